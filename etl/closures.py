"""Full exports: a load that holds every record of its source closes those it no longer holds.

A source is a province (`--province CODE`, a 2025 province code) or the whole registry
(`--nationwide`, an agency's export of all of it). A record belongs to a province by where the
registry places it: a resident by the permanent address, a household by its address, an
enterprise by its head office, a parcel by its commune. A full export of Đà Nẵng therefore
closes nothing in Huế, whatever Huế's exports hold.

Which records close is computed on the staged load, before anything is merged: the current
records in scope that no staged row matches (by the registry's key) and that no rejected row
names (a row rejected for a wrong birth date is still in the export: its record stays). A row
rejected with no key the registry could match (a garbled personal ID) may hold any record; a
load that would close something while holding such rows stops, as one that would close more
than `LIENTHONG_FULL_EXPORT_MAX_CLOSE_SHARE` of the records in scope stops, unless forced.
The closures then happen after the merge, in the load's transaction: their versions end at the
load's instant, so `etl rollback` reopens them like any other change of the load. Each closed
record writes its `<subject>.removed` event to the outbox in that transaction (registries.events;
a closed resident also leaves their household: `household.member_removed`); the rows closed with
it (an enterprise's representatives, a parcel's rights) write none of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection, sql

from registries.events import Outbox


@dataclass(frozen=True)
class Scope:
    """What a full export covers: one province (2025 code), or the whole registry (None)."""

    province: int | None
    name: str = ""

    def __str__(self) -> str:
        if self.province is None:
            return "the whole registry"
        named = f" ({self.name})" if self.name else ""
        return f"province {self.province:02d}{named}"


@dataclass(frozen=True)
class Closable:
    """A registry table a full export closes records of.

    `match`: the columns a staged row matches a record by (its registry key as exports write
    it); `staged`: the statement listing them in the load; `key`: the record's registry key,
    what the report and `etl_closures` name; `commune`: the column that places a record in a
    province; `named_by`: the expression, on the record `r`, that a rejected row's key names;
    `dependents`: tables whose current rows belong to a closed record (by their column holding
    its `key`), closed with it."""

    table: str
    match: tuple[str, ...]
    staged: sql.Composable
    key: str
    commune: str
    named_by: str
    dependents: tuple[tuple[str, str], ...] = ()


@dataclass
class Closures:
    """A full export's closures: computed before the merge, made after it."""

    scope: Scope
    in_scope: int  # current records of the first table in scope
    limit: float  # the share of them a load may close without --force
    forced: bool
    unidentified: int  # rejected rows whose key names no record
    closing: dict[str, list[str]] = field(default_factory=dict)  # table -> keys, sorted
    dependents: dict[str, int] = field(default_factory=dict)  # table -> rows closed with them
    primary: str = ""

    @property
    def count(self) -> int:
        """Records closed (or to close): the registry's and those derived from it."""
        return sum(len(keys) for keys in self.closing.values())

    @property
    def share(self) -> float:
        closing = len(self.closing.get(self.primary, ()))
        return closing / self.in_scope if self.in_scope else 0.0

    @property
    def over(self) -> bool:
        return self.share > self.limit

    @property
    def blind(self) -> bool:
        """Closing something while rows that may hold any record were rejected."""
        return self.count > 0 and self.unidentified > 0

    @property
    def stops(self) -> bool:
        return not self.forced and (self.over or self.blind)

    def as_json(self) -> dict[str, Any]:
        return {
            "scope": str(self.scope),
            "province": self.scope.province,
            "in_scope": self.in_scope,
            "closing": {table: len(keys) for table, keys in self.closing.items()},
            "dependents": self.dependents,
            "share": round(self.share, 6),
            "limit": self.limit,
            "unidentified_rejects": self.unidentified,
            "forced": self.forced,
            "stopped": self.stops,
        }


class ClosuresRefused(RuntimeError):  # noqa: N818 - the operator's answer
    """The full export would close more than the limit allows (or blindly): nothing merged."""

    def __init__(self, closures: Closures) -> None:
        self.closures = closures
        reasons = []
        if closures.over:
            reasons.append(
                f"it would close {len(closures.closing[closures.primary]):,} of the "
                f"{closures.in_scope:,} {closures.primary} of {closures.scope} "
                f"({closures.share:.1%}), more than LIENTHONG_FULL_EXPORT_MAX_CLOSE_SHARE "
                f"({closures.limit:.1%})"
            )
        if closures.blind:
            reasons.append(
                f"{closures.unidentified:,} rejected row(s) have no key the registry could "
                f"match: a record they hold may be among the {closures.count:,} it would close"
            )
        super().__init__("; ".join(reasons))


def scope_of(connection: Connection[Any], province: int | None) -> Scope:
    """The scope, with the province's name; ValueError for a province the 2025 list lacks."""
    if province is None:
        return Scope(None)
    row = connection.execute("SELECT name FROM provinces WHERE code = %s", (province,)).fetchone()
    if row is None:
        raise ValueError(f"no province {province} in the 2025 list (34 two-digit codes)")
    return Scope(province, str(row[0]))


def _in_scope(closable: Closable, scope: Scope) -> tuple[sql.Composable, dict[str, Any]]:
    if scope.province is None:
        return sql.SQL("true"), {}
    return sql.SQL("r.{} IN (SELECT code FROM communes WHERE province_code = %(province)s)").format(
        sql.Identifier(closable.commune)
    ), {"province": scope.province}


def _closing(
    connection: Connection[Any], closable: Closable, scope: Scope, named: list[str]
) -> list[str]:
    """The keys of the current records in scope no staged row matches and no reject names."""
    where, params = _in_scope(closable, scope)
    matched = sql.SQL(" AND ").join(
        sql.SQL("s.{0} = r.{0}").format(sql.Identifier(column)) for column in closable.match
    )
    rows = connection.execute(
        sql.SQL(
            "SELECT r.{key}::text FROM {table} AS r WHERE r.valid_to IS NULL AND {where} "
            "AND NOT EXISTS (SELECT FROM ({staged}) AS s WHERE {matched}) "
            "AND ({named_by}) <> ALL(%(named)s::text[]) ORDER BY 1"
        ).format(
            key=sql.Identifier(closable.key),
            table=sql.Identifier(closable.table),
            where=where,
            staged=closable.staged,
            matched=matched,
            named_by=sql.SQL(closable.named_by),  # the target's own static expression
        ),
        {**params, "named": named},
    ).fetchall()
    return [str(key) for (key,) in rows]


def measure(
    connection: Connection[Any],
    closables: Iterable[Closable],
    *,
    scope: Scope,
    named: Iterable[str],
    unidentified: int,
    limit: float,
    forced: bool,
) -> Closures:
    """What the staged full export would close, against its limit (nothing written)."""
    tables = list(closables)
    primary = tables[0]
    where, params = _in_scope(primary, scope)
    row = connection.execute(
        sql.SQL("SELECT count(*) FROM {} AS r WHERE r.valid_to IS NULL AND {}").format(
            sql.Identifier(primary.table), where
        ),
        params,
    ).fetchone()
    names = sorted(set(named))
    return Closures(
        scope=scope,
        in_scope=int(row[0]) if row else 0,
        limit=limit,
        forced=forced,
        unidentified=unidentified,
        closing={c.table: _closing(connection, c, scope, names) for c in tables},
        primary=primary.table,
    )


def close(
    connection: Connection[Any],
    closables: Iterable[Closable],
    closures: Closures,
    run_id: int,
    outbox: Outbox,
) -> None:
    """End, at the load's instant, the versions `measure` found (and their dependents' rows),
    record each closed record in `etl_closures`, and its events in the outbox."""
    closing = [(c, closures.closing.get(c.table, [])) for c in closables]
    for closable, keys in closing:
        if not keys:
            continue
        connection.execute(
            sql.SQL(
                "UPDATE {table} SET valid_to = now() WHERE valid_to IS NULL "
                "AND {key}::text = ANY(%s)"
            ).format(table=sql.Identifier(closable.table), key=sql.Identifier(closable.key)),
            (keys,),
        )
        for table, column in closable.dependents:
            closures.dependents[table] = connection.execute(
                sql.SQL(
                    "UPDATE {table} SET valid_to = now() WHERE valid_to IS NULL "
                    "AND {column}::text = ANY(%s)"
                ).format(table=sql.Identifier(table), column=sql.Identifier(column)),
                (keys,),
            ).rowcount
        with connection.cursor().copy(
            "COPY etl_closures (run_id, registry, record_key) FROM STDIN"
        ) as copy:
            for key in keys:
                copy.write_row((run_id, closable.table, key))
    # Every table closed before any event is written: a household a resident leaves by being
    # closed is, when it closes too, named as it is after the load (no current version)
    for closable, keys in closing:
        if keys:
            outbox.versions(connection, table=closable.table, keys=keys)
