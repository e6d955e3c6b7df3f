"""Change events: the outbox every registry change writes in its own transaction, and the one
declaration of the event types.

Invariants:
- an event is written by the transaction that made the change, or not at all (an outbox): a
  subscriber never hears of a change that was rolled back, nor misses one that committed;
- the table is appended to, never rewritten (the application role may only INSERT and SELECT);
- an event type names its subject type, the registry columns whose change makes it, and the
  GraphQL fields it reveals: a subscriber receives a type only if its agreement grants every
  field the type reveals (a death, a move are personal data by themselves);
- `subject_sequence` counts the subject's versions up to this change: receivers order pushed
  events by it and skip stale ones; the pull feed's `(txid, seq)` order is the ordered truth.

How the producers find changes (`Outbox`, called by registries/merge.py and etl/closures.py):
every statement of a registry change closes versions with `valid_to = now()` and opens them
with `valid_from = now()` (the column default), and `now()` is the transaction's instant. So,
for the keys a merge or a closure touched, the version of a key closed in this transaction and
the one opened in it are the key's old and new versions, whatever statements made them. One
temporary table pairs them (`event_pairs`); per event type, one statement selects the pairs
that make it (`event_rows`) and one INSERT … SELECT numbers and writes them. Nothing loops over
rows in Python, and a load that changes nothing writes nothing. The steps are temporary tables,
not subqueries, so that the planner sizes them right (a hash join over a large load, index
scans over a few changes), and run without JIT; `python -m bench events` measures their cost.

A subject's version sequence is the number of distinct instants, up to this change, at which a
version of the subject, or of what its GraphQL type lists (an enterprise's representatives and
business lines, a parcel's rights, a household's members), began or ended. For a resident that
is its number of versions (a closure without a successor counts as one more: a removal is a
change too). Every event of one transaction about a subject carries the same sequence, and the
next transaction's is higher.

**A registry's first fill records no events**: `Outbox.known` asks, before the merge writes
anything, whether the table holds a current row; if not, the load is its first fill (or its
refill after every record was closed) and none of its versions is compared. Subjects new to the
registry record none either: only a subject current before the transaction (one a subscriber
could know) has an old version to compare; a household gains a member only if it was current
before.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import Connection, sql
from sqlalchemy import BigInteger, DateTime, Identity, Index, Text, Uuid, func, literal_column, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base

# The outbox's horizon (the pull feed and the workers' fan-out read only below it), in the
# statement's own snapshot: `pg_snapshot_xmin(pg_current_snapshot())`
# (the smallest id of a transaction running when it was taken, or its xmax if none was) but for
# the transactions of other databases on the same server, which cannot write this outbox (a
# test run, a benchmark, Keycloak's database). A transaction is of another database only when a
# backend of that database is seen with its id (pg_stat_activity: ids and databases are shown to
# any role, and an id names one transaction for good); any other counts. So every transaction of
# this database with a smaller id has ended, and its events are visible in the snapshot.
HORIZON = literal_column(
    "(SELECT min(coalesce((running::text)::bigint, (pg_snapshot_xmax(snap.taken)::text)::bigint))"
    " FROM (SELECT pg_current_snapshot() AS taken) AS snap"
    " LEFT JOIN LATERAL pg_snapshot_xip(snap.taken) AS running ON NOT EXISTS ("
    "SELECT FROM pg_stat_activity AS elsewhere"
    " WHERE (elsewhere.backend_xid::text)::bigint = (running::text)::bigint % 4294967296"
    " AND elsewhere.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())))",
    BigInteger,
)


class ChangeEvent(Base):
    __tablename__ = "change_events"
    __table_args__ = (
        Index("ix_change_events_feed", "txid", "seq"),
        Index("ix_change_events_subject", "subject_type", "subject_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, unique=True, server_default=text("gen_random_uuid()")
    )
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    type: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)  # the GraphQL type: Resident, Parcel, …
    subject_id: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))  # GraphQL fields that changed
    old_version_id: Mapped[int | None] = mapped_column(BigInteger)
    new_version_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_sequence: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    source: Mapped[str] = mapped_column(Text)  # etl:<run>, bulk:<run>, steward:<sub>


Kind = Literal["changed", "removed", "restored", "member_removed", "member_added", "children"]


@dataclass(frozen=True)
class EventType:
    name: str
    subject_type: str  # the GraphQL type of the subject it is about
    table: str  # the registry table whose versions make it
    columns: tuple[str, ...]  # a change of any of these (old version → new) makes the event
    reveals: tuple[str, ...]  # the GraphQL fields an agreement must grant to receive it
    # How its events are found among the versions a transaction closed and opened for a key of
    # `table`: `changed`, the closed and the opened versions differ in `columns` (and `when`
    # holds); `removed`, a version closed and none opened (a full export's closure);
    # `restored`, one opened and none closed for a key that had versions before (a record a
    # full export closed, loaded again); `member_removed` / `member_added`, the subject named
    # by `columns[0]` of the closed / the opened version is not the other's (a resident left
    # or joined a household); `children`, rows of `table`, a subject's list (representatives,
    # rights), closed or opened for the subject.
    kind: Kind = "changed"
    # The event's `fields`: each revealed field whose columns changed; empty: all it reveals.
    shows: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # A further condition on the old and new values, as the pairs hold them (`o_<column>`,
    # `n_<column>`, columns of `columns` and `shows`), and when the change took effect (default:
    # the new version's start, `n_valid_from`)
    when: str = ""
    effective: str = ""

    @property
    def reads(self) -> tuple[str, ...]:
        """The columns its comparison reads, in declaration order."""
        shown = (column for _, columns in self.shows for column in columns)
        return tuple(dict.fromkeys((*self.columns, *shown)))


def _lifecycle(subject_type: str, table: str, key_field: str) -> tuple[EventType, ...]:
    prefix = subject_type.lower()
    return (
        EventType(f"{prefix}.removed", subject_type, table, (), (key_field,), kind="removed"),
        EventType(f"{prefix}.restored", subject_type, table, (), (key_field,), kind="restored"),
    )


EVENT_TYPES: dict[str, EventType] = {
    kind.name: kind
    for kind in (
        EventType(
            "resident.address_changed", "Resident", "residents",
            ("permanent_commune_code", "permanent_address_line", "temporary_commune_code",
             "temporary_address_line"),
            ("permanentAddress", "temporaryAddress"),
            shows=(("permanentAddress", ("permanent_commune_code", "permanent_address_line")),
                   ("temporaryAddress", ("temporary_commune_code", "temporary_address_line"))),
        ),
        EventType("resident.name_changed", "Resident", "residents", ("full_name",),
                  ("fullName",)),
        EventType("resident.deceased", "Resident", "residents", ("deceased",),
                  ("deceased", "deceasedOn"),
                  shows=(("deceased", ("deceased",)), ("deceasedOn", ("deceased_on",))),
                  when="n_deceased AND NOT coalesce(o_deceased, false)",
                  # the day of death at midnight in Vietnam, when the registry knows it
                  effective="coalesce(n_deceased_on::timestamp AT TIME ZONE "
                            "'Asia/Ho_Chi_Minh', n_valid_from)"),
        EventType("household.member_added", "Household", "residents", ("household_id",),
                  ("members",), kind="member_added"),
        EventType("household.member_removed", "Household", "residents", ("household_id",),
                  ("members",), kind="member_removed"),
        EventType("enterprise.status_changed", "Enterprise", "enterprises", ("status",),
                  ("status",)),
        EventType("enterprise.representative_changed", "Enterprise", "enterprise_representatives",
                  ("personal_id", "title"), ("legalRepresentatives",), kind="children"),
        EventType("parcel.rights_changed", "Parcel", "parcel_rights",
                  ("holder_kind", "holder_id", "kind", "certificate_number", "share_percent"),
                  ("rights",),
                  kind="children"),
        # closed by a full export (etl/closures.py), and loaded again after
        *_lifecycle("Resident", "residents", "id"),
        *_lifecycle("Household", "households", "id"),
        *_lifecycle("Enterprise", "enterprises", "code"),
        *_lifecycle("Parcel", "parcels", "id"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Part:
    """A table whose versions make up a subject's state, by the column naming the subject;
    `numeric`: the column enters the table's history index as bigint (registries.history
    numeric_keys), so a lookup by it compares it as bigint, and the index serves it (`_match`)."""

    table: str
    column: str
    numeric: bool = False


@dataclass(frozen=True)
class Subject:
    type: str  # the GraphQL type
    key: str  # the column of its own table (parts[0]) holding its key
    parts: tuple[Part, ...]  # its own table first, then the lists its GraphQL type shows

    @property
    def own(self) -> Part:
        return self.parts[0]


SUBJECTS: dict[str, Subject] = {
    subject.type: subject
    for subject in (
        Subject("Resident", "personal_id", (Part("residents", "personal_id", numeric=True),)),
        Subject(
            "Household",
            "household_id",
            (Part("households", "household_id", numeric=True), Part("residents", "household_id")),
        ),
        Subject(
            "Enterprise",
            "enterprise_code",
            (
                Part("enterprises", "enterprise_code", numeric=True),
                Part("enterprise_representatives", "enterprise_code", numeric=True),
                Part("enterprise_business_lines", "enterprise_code", numeric=True),
            ),
        ),
        Subject(
            "Parcel",
            "parcel_id",
            (Part("parcels", "parcel_id"), Part("parcel_rights", "parcel_id")),
        ),
    )
}
_OWNER = {subject.own.table: subject for subject in SUBJECTS.values()}
# The column of a subject's list (a table of its parts) naming the subject it belongs to
_LISTED_BY = {part.table: part.column for s in SUBJECTS.values() for part in s.parts[1:]}
_COLUMNS = sql.SQL(
    "type, subject_type, subject_id, fields, old_version_id, new_version_id, subject_sequence, "
    "effective_at, source"
)


def _match(alias: str, part: Part, value: sql.Composable) -> sql.Composed:
    """`alias`'s rows of `part` whose subject is `value` (a text expression). A numeric column
    is compared as bigint only, as its history index (and exclusion constraint) compares it:
    its keys are digits of fixed lengths (personal and household IDs 12, enterprise codes 10,
    or 13 for a branch), so equal numbers are equal keys; one condition keeps the planner's
    estimates right (a hash join over a large load, the index over a few keys)."""
    column = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(part.column))
    if not part.numeric:
        return sql.SQL("{} = {}").format(column, value)
    return sql.SQL("{}::bigint = ({})::bigint").format(column, value)


def _before(alias: str, subject: Subject, value: sql.Composable) -> sql.Composed:
    """`alias` (the subject's own table): its version current just before this transaction."""
    return sql.SQL(
        "{} AND {alias}.valid_from < now() AND ({alias}.valid_to IS NULL "
        "OR {alias}.valid_to = now())"
    ).format(_match(alias, subject.own, value), alias=sql.Identifier(alias))


def _sequence(subject: Subject) -> sql.Composed:
    """Each subject of `event_rows` with its version sequence (module docstring): the distinct
    instants its parts' versions began or ended, up to now."""
    parts = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT c.subject_id, t.valid_from, t.valid_to FROM c JOIN {table} AS t ON {match}"
        ).format(
            table=sql.Identifier(part.table),
            match=_match("t", part, sql.SQL("c.subject_id")),
        )
        for part in subject.parts
    )
    return sql.SQL(
        "WITH c AS (SELECT subject_id FROM event_rows) "
        "SELECT i.subject_id, count(*) AS sequence FROM (SELECT DISTINCT h.subject_id, "
        "v.instant FROM ({parts}) AS h "
        "CROSS JOIN LATERAL (VALUES (h.valid_from), (h.valid_to)) AS v(instant) "
        "WHERE v.instant <= now()) AS i GROUP BY i.subject_id"
    ).format(parts=parts)


def _rows(events: sql.Composable) -> sql.Composed:
    """`events` (subject_id, old_id, new_id, fields, effective_at: one row per event) held in
    the temporary table `event_rows`, to be counted and planned by what it holds."""
    return sql.SQL("CREATE TEMP TABLE event_rows ON COMMIT DROP AS {}").format(events)


def _insert(kind: EventType) -> sql.Composed:
    """One INSERT … SELECT of `kind`'s events in `event_rows` (one per subject), each numbered
    with its subject's sequence."""
    return sql.SQL(
        "INSERT INTO change_events ({columns}) "
        "SELECT %(type)s, %(subject_type)s, e.subject_id, e.fields, e.old_id, e.new_id, "
        "s.sequence, e.effective_at, %(source)s FROM event_rows AS e JOIN ({sequence}) AS s "
        "ON s.subject_id = e.subject_id"
    ).format(columns=_COLUMNS, sequence=_sequence(SUBJECTS[kind.subject_type]))


def _pair(prefix: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("({})").format(
        sql.SQL(", ").join(sql.Identifier(f"{prefix}_{column}") for column in columns)
    )


def _fields(kind: EventType) -> sql.Composed:
    """The event's `fields`: the revealed fields whose columns differ between the pair's two
    versions (all it reveals when it declares no `shows`)."""
    if not kind.shows:
        return sql.SQL("ARRAY[{}]::text[]").format(
            sql.SQL(", ").join(map(sql.Literal, kind.reveals))
        )
    return sql.SQL("array_remove(ARRAY[{}]::text[], NULL)").format(
        sql.SQL(", ").join(
            sql.SQL("CASE WHEN {} IS DISTINCT FROM {} THEN {} END").format(
                _pair("o", columns), _pair("n", columns), sql.Literal(field)
            )
            for field, columns in kind.shows
        )
    )


def _changed(kind: EventType) -> sql.Composed:
    condition = sql.SQL("{} IS DISTINCT FROM {}").format(
        _pair("o", kind.columns), _pair("n", kind.columns)
    )
    if kind.when:
        condition = sql.SQL("{} AND ({})").format(condition, sql.SQL(kind.when))  # declared above
    return sql.SQL(
        "SELECT p.key AS subject_id, p.old_id, p.new_id, {fields} AS fields, "
        "{effective} AS effective_at FROM event_pairs AS p "
        "WHERE p.old_id IS NOT NULL AND p.new_id IS NOT NULL AND {condition}"
    ).format(
        fields=_fields(kind),
        effective=sql.SQL(kind.effective or "n_valid_from"),  # declared above
        condition=condition,
    )


def _lifecycle_events(kind: EventType) -> sql.Composed:
    if kind.kind == "removed":
        return sql.SQL(
            "SELECT p.key AS subject_id, p.old_id, NULL::bigint AS new_id, {} AS fields, "
            "p.o_valid_to AS effective_at FROM event_pairs AS p "
            "WHERE p.old_id IS NOT NULL AND p.new_id IS NULL"
        ).format(_fields(kind))
    return sql.SQL(
        "SELECT p.key AS subject_id, NULL::bigint AS old_id, p.new_id, {} AS fields, "
        "p.n_valid_from AS effective_at FROM event_pairs AS p "
        "WHERE p.old_id IS NULL AND p.new_id IS NOT NULL AND p.earlier"
    ).format(_fields(kind))


def _membership(kind: EventType) -> sql.Composed:
    """One event per subject (household) that a version of the pairs left (`member_removed`)
    or joined (`member_added`), if that subject was current before this transaction."""
    side, other = ("o", "n") if kind.kind == "member_removed" else ("n", "o")
    column = kind.columns[0]
    subject = SUBJECTS[kind.subject_type]
    return sql.SQL(
        "SELECT m.subject_id, b.version_id AS old_id, a.version_id AS new_id, {fields} AS "
        "fields, now() AS effective_at FROM (SELECT DISTINCT {mine}::text AS subject_id "
        "FROM event_pairs WHERE {mine} IS NOT NULL AND {mine} IS DISTINCT FROM {theirs}) AS m "
        "JOIN {table} AS b ON {before} "
        "LEFT JOIN {table} AS a ON a.{key} = m.subject_id AND a.valid_to IS NULL"
    ).format(
        fields=_fields(kind),
        mine=sql.Identifier(f"{side}_{column}"),
        theirs=sql.Identifier(f"{other}_{column}"),
        table=sql.Identifier(subject.own.table),
        before=_before("b", subject, sql.SQL("m.subject_id")),
        key=sql.Identifier(subject.key),
    )


def _children(kind: EventType) -> sql.Composed:
    """One event per parent in %(parents)s current before this transaction."""
    subject = SUBJECTS[kind.subject_type]
    return sql.SQL(
        "SELECT p.subject_id, b.version_id AS old_id, a.version_id AS new_id, {fields} AS "
        "fields, now() AS effective_at FROM unnest(%(parents)s::text[]) AS p(subject_id) "
        "JOIN {table} AS b ON {before} "
        "LEFT JOIN {table} AS a ON a.{key} = p.subject_id AND a.valid_to IS NULL"
    ).format(
        fields=_fields(kind),
        table=sql.Identifier(subject.own.table),
        before=_before("b", subject, sql.SQL("p.subject_id")),
        key=sql.Identifier(subject.key),
    )


def _pairs(table: str, kinds: list[EventType]) -> sql.Composed:
    """The temporary table `event_pairs`: for each key of `event_keys`, its version closed in this
    transaction (`old_id`, `o_…`) and the one opened in it (`new_id`, `n_…`), where either
    exists; `earlier`: no version closed now, one opened, and the key had versions before."""
    subject = _OWNER[table]
    part, key = subject.own, sql.Identifier(subject.key)
    reads = tuple(dict.fromkeys(column for kind in kinds for column in kind.reads))
    values = [
        sql.SQL("{}.{} AS {}").format(sql.Identifier(side), sql.Identifier(c),
                                      sql.Identifier(f"{side}_{c}"))
        for c in reads for side in ("o", "n")
    ]  # fmt: skip
    which = {kind.kind for kind in kinds}
    if which <= {"removed", "restored"}:  # only keys with one side
        wanted = sql.SQL("(o.version_id IS NULL) <> (n.version_id IS NULL)")
    else:
        wanted = sql.SQL("(o.version_id IS NOT NULL OR n.version_id IS NOT NULL)")
    earlier = (
        sql.SQL(
            "CASE WHEN o.version_id IS NULL THEN EXISTS (SELECT FROM {table} AS e WHERE {match} "
            "AND e.valid_to < now()) ELSE false END"
        ).format(table=sql.Identifier(table), match=_match("e", part, sql.SQL("k.key")))
        if "restored" in which
        else sql.SQL("false")
    )
    return sql.SQL(
        "CREATE TEMP TABLE event_pairs ON COMMIT DROP AS "
        "SELECT k.key, o.version_id AS old_id, n.version_id AS new_id, "
        "o.valid_to AS o_valid_to, n.valid_from AS n_valid_from, {earlier} AS earlier{values} "
        "FROM event_keys AS k "
        "LEFT JOIN {table} AS o ON {match} AND o.valid_to = now() "
        "LEFT JOIN {table} AS n ON n.{key} = k.key AND n.valid_to IS NULL "
        "AND n.valid_from = now() WHERE {wanted}"
    ).format(
        earlier=earlier,
        values=sql.SQL("").join(sql.SQL(", {}").format(v) for v in values),
        table=sql.Identifier(table),
        match=_match("o", part, sql.SQL("k.key")),
        key=key,
        wanted=wanted,
    )


@contextmanager
def _without_jit(connection: Connection[Any]) -> Iterator[None]:
    """JIT off for the outbox's statements, as it was after them. They are planned over large
    estimates (a large load) and each runs once: compiling them cost more than running them
    (`python -m bench events`)."""
    row = connection.execute("SELECT current_setting('jit')").fetchone()
    connection.execute("SELECT set_config('jit', 'off', true)")
    yield
    connection.execute("SELECT set_config('jit', %s, true)", (str(row[0]) if row else "on",))


@dataclass
class Outbox:
    """Where a transaction's registry changes write their change events.

    `source` names what made them: `etl:<run id>` (a load), `bulk:<run id>` (a load merged on
    the bulk path, registries/bulk.py), `steward:<sub>`. `enabled=False` records nothing: only
    for `python -m bench events`, which times a load with the outbox and without it.
    `recorded` counts the events written so far."""

    source: str
    enabled: bool = True
    recorded: int = 0

    def known(self, connection: Connection[Any], table: str) -> bool:
        """Whether `table` holds a current version, asked before a merge writes anything: if
        not, the merge is the table's first fill and records no events (module docstring)."""
        if not self.enabled:
            return False
        row = connection.execute(
            sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE valid_to IS NULL)").format(
                sql.Identifier(table)
            )
        ).fetchone()
        return bool(row and row[0])

    def versions(
        self,
        connection: Connection[Any],
        *,
        table: str,
        keys: sql.Composable | Sequence[str],
        changed_only: bool = False,
    ) -> int:
        """Record the events of the versions of `table` closed and opened in this transaction
        for `keys` (a statement selecting them, or the keys themselves): every type declared
        on `table` but `children`; with `changed_only` (no key gained or lost its current
        version: a merge that brought no new key), the types of changes alone. Returns how
        many."""
        skipped = {"children", "removed", "restored"} if changed_only else {"children"}
        kinds = [k for k in EVENT_TYPES.values() if k.table == table and k.kind not in skipped]
        if not self.enabled or not kinds:
            return 0
        with _without_jit(connection):
            return self._versions(connection, table, kinds, keys)

    def _versions(
        self,
        connection: Connection[Any],
        table: str,
        kinds: list[EventType],
        keys: sql.Composable | Sequence[str],
    ) -> int:
        params: dict[str, Any] = {}
        if not isinstance(keys, sql.Composable):
            params["keys"] = list(keys)
            keys = sql.SQL("SELECT unnest(%(keys)s::text[])")
        # Tables, not subqueries: the planner estimates a table's rows by its size, where it
        # guesses a DISTINCT at 200 rows and probes an index 100,000 times (bench events)
        keyed = connection.execute(
            sql.SQL(
                "CREATE TEMP TABLE event_keys ON COMMIT DROP AS "
                "SELECT DISTINCT keys.key::text AS key FROM ({}) AS keys(key)"
            ).format(keys),
            params,
        ).rowcount
        if keyed <= 0:
            connection.execute("DROP TABLE event_keys")
            return 0
        paired = connection.execute(_pairs(table, kinds)).rowcount
        connection.execute("DROP TABLE event_keys")
        recorded = 0
        if paired > 0:
            for kind in kinds:
                events = (
                    _changed(kind)
                    if kind.kind == "changed"
                    else _membership(kind)
                    if kind.kind in ("member_removed", "member_added")
                    else _lifecycle_events(kind)
                )
                recorded += self._write(connection, kind, events, {})
        connection.execute("DROP TABLE event_pairs")
        return recorded

    def children(self, connection: Connection[Any], *, table: str, parents: Collection[str]) -> int:
        """Record one event per parent whose rows of `table` (its list: representatives,
        rights) changed in this transaction, if it was current before. Returns how many."""
        kinds = [k for k in EVENT_TYPES.values() if k.table == table and k.kind == "children"]
        if not self.enabled or not kinds or not parents:
            return 0
        with _without_jit(connection):
            return sum(
                self._write(connection, kind, _children(kind), {"parents": sorted(parents)})
                for kind in kinds
            )

    def undone(
        self, connection: Connection[Any], tables: Sequence[tuple[str, tuple[str, ...]]]
    ) -> int:
        """Record the events of a rollback (registries/rollback.py), which closed and opened
        versions of `tables` now: compared as a load's are, the undoing of a move is a move
        back. A table the rollback left without a current row records none: it undid the
        table's first fill, which recorded none either. Returns how many."""
        recorded = 0
        for table, _ in tables:
            if not self.known(connection, table):
                continue
            if table in _OWNER:
                touched = sql.SQL(
                    "SELECT {key} FROM {table} WHERE valid_from = now() "
                    "UNION SELECT {key} FROM {table} WHERE valid_to = now()"
                ).format(key=sql.Identifier(_OWNER[table].key), table=sql.Identifier(table))
                recorded += self.versions(connection, table=table, keys=touched)
            listed = [k for k in EVENT_TYPES.values() if k.table == table and k.kind == "children"]
            if listed:  # a subject's list (representatives, rights): one event per subject
                column = _LISTED_BY[table]
                parents = connection.execute(
                    sql.SQL(
                        "SELECT DISTINCT {column}::text FROM {table} "
                        "WHERE valid_from = now() OR valid_to = now()"
                    ).format(column=sql.Identifier(column), table=sql.Identifier(table))
                ).fetchall()
                recorded += self.children(
                    connection, table=table, parents=[str(parent) for (parent,) in parents]
                )
        return recorded

    def _write(
        self,
        connection: Connection[Any],
        kind: EventType,
        events: sql.Composable,
        params: dict[str, Any],
    ) -> int:
        found = connection.execute(_rows(events), params).rowcount
        written = 0
        if found > 0:
            written = connection.execute(
                _insert(kind),
                {"type": kind.name, "subject_type": kind.subject_type, "source": self.source},
            ).rowcount
        connection.execute("DROP TABLE event_rows")
        self.recorded += written
        return int(written)
