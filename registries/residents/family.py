"""Family links of a staged population export, checked against the load and the registry.

A resident names a father, a mother and a spouse by personal ID. What a row says of itself is
checked when it is read (etl.validation.family_links: a self-link, a parent of the wrong sex or
born in a later year by their ID). What needs the relative's record is checked here, once the
load is staged and before it is merged, in a few set-based statements whatever its size; the
relative's record is its staged row when the load brings one, else its current version:

- a parent not born before the child (FAMILY_PARENT_YOUNGER), either way round: a staged child
  naming a parent, or a staged parent named by a current child the load does not bring;
- a spouse who names someone else (FAMILY_SPOUSE_MISMATCH), either way round: a staged resident
  naming a spouse whose record names another, or a staged resident naming someone other than a
  current resident (not in the load) who names them. A spouse who names nobody contradicts
  nothing: their own province may not have loaded the marriage yet.

Rejecting a row can change what another row's check reads (its relative's record is then the
current version, or none), so the checks run again until they reject nothing more. The checks
from a current record's side read only the staged residents that are new or whose birth date or
spouse changed: a row changing neither cannot contradict what was checked when that record
loaded (a re-export of the same registry reads almost nothing twice).

A link to a person neither staged nor current is loaded as it is, *unresolved*: provinces load
in any order. The view `unresolved_family_links` (migration 0013) lists the links of current
records whose person the registry does not hold; a later load of that person resolves them with
nothing to rewrite, and is checked against them as above (`resolved` counts them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg import Connection, sql

from registries.residents.merge import STAGING_TABLE

ROLES = {"father_id": "father", "mother_id": "mother", "spouse_id": "spouse"}

STAGE = sql.Identifier(STAGING_TABLE)
# Each staged link with what the relative's record says (staged row first, else the current
# version): the contradictions, and the links to no one the registry holds (`known` false).
_LINKS = sql.SQL("""
WITH links AS (
    SELECT s.personal_id, s.birth_date, l.link, l.target
    FROM {stage} AS s
    CROSS JOIN LATERAL (VALUES ('father_id', s.father_id), ('mother_id', s.mother_id),
                               ('spouse_id', s.spouse_id)) AS l (link, target)
    WHERE l.target IS NOT NULL
), checked AS (
    SELECT l.personal_id, l.link, l.target, l.birth_date,
           coalesce(t.personal_id, r.personal_id) IS NOT NULL AS known,
           CASE WHEN t.personal_id IS NOT NULL THEN t.birth_date ELSE r.birth_date END AS born,
           CASE WHEN t.personal_id IS NOT NULL THEN t.spouse_id ELSE r.spouse_id END AS spouse
    FROM links AS l
    LEFT JOIN {stage} AS t ON t.personal_id = l.target
    LEFT JOIN residents AS r
        ON t.personal_id IS NULL AND r.personal_id = l.target AND r.valid_to IS NULL
)
SELECT personal_id, link, target, birth_date, known, born, spouse FROM checked
WHERE NOT known OR (link <> 'spouse_id' AND born >= birth_date)
   OR (link = 'spouse_id' AND spouse IS NOT NULL AND spouse <> personal_id)
""").format(stage=STAGE)
# Current records the load does not bring that name a staged resident, by one link: as parent
# (the staged one must be born before them) or as spouse (the staged one must name them, or
# nobody). Only staged residents that are new, or whose birth date or spouse changed, can
# contradict what was checked when those records loaded: a row changing neither is not read
# again. One part per link, each through its index.
_CHANGED = sql.SQL(
    "SELECT s.personal_id, s.birth_date, s.spouse_id FROM {stage} AS s WHERE NOT EXISTS ("
    "SELECT FROM residents AS c WHERE c.personal_id = s.personal_id AND c.valid_to IS NULL "
    "AND c.birth_date = s.birth_date AND c.spouse_id IS NOT DISTINCT FROM s.spouse_id)"
).format(stage=STAGE)
_ARRIVING = sql.SQL(
    "SELECT s.personal_id FROM {stage} AS s WHERE NOT EXISTS (SELECT FROM residents AS c "
    "WHERE c.personal_id = s.personal_id AND c.valid_to IS NULL)"
).format(stage=STAGE)
_NAMING = sql.SQL(
    "SELECT s.personal_id, {name} AS link, r.personal_id AS other, r.birth_date AS other_born, "
    "{own} AS own FROM {staged} AS s JOIN residents AS r ON r.{link} = s.personal_id "
    "AND r.{link} IS NOT NULL AND r.valid_to IS NULL "
    "WHERE {condition} AND NOT EXISTS (SELECT FROM {stage} AS x WHERE x.personal_id = "
    "r.personal_id)"
)


def _naming(link: str, own: str, condition: str) -> sql.Composed:
    return _NAMING.format(
        name=sql.Literal(link),
        link=sql.Identifier(link),
        own=sql.SQL(own),  # this module's static text
        condition=sql.SQL(condition),
        staged=sql.Identifier("staged"),
        stage=STAGE,
    )


_REVERSE = sql.SQL("WITH staged AS MATERIALIZED ({}) {}").format(
    _CHANGED,
    sql.SQL(" UNION ALL ").join([
        _naming("father_id", "s.birth_date::text", "s.birth_date >= r.birth_date"),
        _naming("mother_id", "s.birth_date::text", "s.birth_date >= r.birth_date"),
        _naming("spouse_id", "s.spouse_id::text",
                "s.spouse_id IS NOT NULL AND s.spouse_id <> r.personal_id"),
    ]),
)  # fmt: skip
# Links of current records the load does not bring to residents it brings for the first time:
# unresolved until now.
_RESOLVED = sql.SQL(
    "WITH staged AS MATERIALIZED ({}) SELECT count(*) FROM ({}) AS resolved"
).format(_ARRIVING, sql.SQL(" UNION ALL ").join(_naming(link, "NULL", "true") for link in ROLES))


@dataclass(frozen=True)
class Contradiction:
    """A staged resident whose family link contradicts a relative's record: rejected."""

    personal_id: str
    code: str  # the reject reason: FAMILY_PARENT_YOUNGER or FAMILY_SPOUSE_MISMATCH
    message: str
    link: str  # father_id, mother_id or spouse_id
    relative: str


@dataclass(frozen=True, order=True)
class Unresolved:
    """A staged link to a person the registry does not (yet) hold: loaded, flagged."""

    personal_id: str
    link: str
    target: str


@dataclass
class FamilyCheck:
    contradictions: list[Contradiction] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    resolved: int = 0  # links of earlier records to residents this load brings


def _born(day: date | None) -> str:
    return day.isoformat() if day is not None else "?"


def _forward(rows: Iterable[tuple[Any, ...]]) -> list[Contradiction]:
    found = []
    for personal_id, link, target, born, known, target_born, target_spouse in rows:
        if not known:
            continue
        role = ROLES[link]
        if link == "spouse_id":
            found.append(Contradiction(
                personal_id, "FAMILY_SPOUSE_MISMATCH",
                f"spouse_id {target}: that resident's spouse is {target_spouse}",
                link, target,
            ))  # fmt: skip
        else:
            found.append(Contradiction(
                personal_id, "FAMILY_PARENT_YOUNGER",
                f"{link} {target}: the {role} was born on {_born(target_born)}, not before "
                f"the resident ({_born(born)})",
                link, target,
            ))  # fmt: skip
    return found


def _reverse(rows: Iterable[tuple[Any, ...]]) -> list[Contradiction]:
    found = []
    for personal_id, link, other, other_born, own in rows:
        if link == "spouse_id":
            found.append(Contradiction(
                personal_id, "FAMILY_SPOUSE_MISMATCH",
                f"resident {other} names this resident as spouse; spouse_id is {own}",
                link, other,
            ))  # fmt: skip
        else:
            found.append(Contradiction(
                personal_id, "FAMILY_PARENT_YOUNGER",
                f"resident {other} (born {_born(other_born)}) names this resident as "
                f"{ROLES[link]}, born on {own}: not before them",
                link, other,
            ))  # fmt: skip
    return found


def _contradictions(connection: Connection[Any]) -> tuple[list[Contradiction], list[Unresolved]]:
    """Every staged resident whose links contradict a relative's record, each once (by personal
    ID), taken out of the staging table; the checks run again until they find nothing more.
    Then the links of what is left that no one the registry holds answers."""
    rejected: dict[str, Contradiction] = {}
    while True:
        links = connection.execute(_LINKS).fetchall()
        found = _forward(links) + _reverse(connection.execute(_REVERSE).fetchall())
        new: dict[str, Contradiction] = {}
        for contradiction in sorted(found, key=lambda c: (c.personal_id, c.link)):
            if contradiction.personal_id not in rejected:
                new.setdefault(contradiction.personal_id, contradiction)
        if not new:
            unresolved = sorted(
                Unresolved(str(p), str(link), str(target))
                for p, link, target, _, known, _, _ in links
                if not known
            )
            return sorted(rejected.values(), key=lambda c: c.personal_id), unresolved
        rejected.update(new)
        connection.execute(
            sql.SQL("DELETE FROM {} WHERE personal_id = ANY(%s)").format(STAGE), (sorted(new),)
        )


def check(connection: Connection[Any]) -> FamilyCheck:
    """Contradictions taken out of the load, then its unresolved links and how many earlier
    links it resolves (what is left staged is what merges). The staged rows are analysed
    first, so that the planner joins a large load by hashing rather than sorting; and these
    few statements are planned without JIT, whose compilation costs more than they take."""
    connection.execute(sql.SQL("ANALYZE {}").format(STAGE))
    jit = connection.execute("SELECT current_setting('jit')").fetchone()
    connection.execute("SELECT set_config('jit', 'off', true)")
    rejected, unresolved = _contradictions(connection)
    row = connection.execute(_RESOLVED).fetchone()
    # the rest of the load's transaction plans as it did (an error above aborts it anyway)
    connection.execute("SELECT set_config('jit', %s, true)", (jit[0] if jit else "on",))
    return FamilyCheck(rejected, unresolved, int(row[0]) if row else 0)
