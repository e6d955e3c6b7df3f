"""What a staged load would change in a registry, measured before it is merged.

A load stages its rows, then (etl.guard) asks here how many staged keys already have a current
version, how many of those would get a new one, and per column how many values would change —
one statement whatever the size — and, for the columns it is worried about, a few before → after
samples and the changed text values themselves. Nothing here writes the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection, sql

SAMPLES = 5


@dataclass(frozen=True)
class Comparison:
    """How a staging table's rows meet a registry table's current versions."""

    table: str
    staging: str
    match: tuple[str, ...]  # the columns identifying a record in both
    columns: tuple[str, ...]  # the attributes compared

    def _join(self) -> sql.Composable:
        on = sql.SQL(" AND ").join(
            sql.SQL("r.{0} = s.{0}").format(sql.Identifier(c)) for c in self.match
        )
        return sql.SQL(
            "{staging} AS s LEFT JOIN {table} AS r ON {on} AND r.valid_to IS NULL"
        ).format(staging=sql.Identifier(self.staging), table=sql.Identifier(self.table), on=on)

    def _key(self) -> sql.Composable:
        return sql.SQL(" || '/' || ").join(
            sql.SQL("s.{}::text").format(sql.Identifier(c)) for c in self.match
        )


@dataclass(frozen=True)
class Changes:
    staged: int
    existing: int  # staged records that have a current version
    updated: int  # of those, how many would get a new version
    by_column: dict[str, int]  # per attribute, how many existing values would change


def _differs(column: str) -> sql.Composable:
    return sql.SQL("r.{0} IS DISTINCT FROM s.{0}").format(sql.Identifier(column))


def measure(connection: Connection[Any], comparison: Comparison) -> Changes:
    """The staged load's change counts, in one statement."""
    present = sql.SQL("r.{} IS NOT NULL").format(sql.Identifier(comparison.match[0]))
    any_change = sql.SQL(" OR ").join(map(_differs, comparison.columns))
    per_column = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {} AND {})").format(present, _differs(c))
        for c in comparison.columns
    )
    row = connection.execute(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE {present}), "
            "count(*) FILTER (WHERE {present} AND ({any_change})), {per_column} FROM {join}"
        ).format(
            present=present, any_change=any_change, per_column=per_column, join=comparison._join()
        )
    ).fetchone()
    counts = [int(value) for value in row or ()]
    if not counts:
        return Changes(staged=0, existing=0, updated=0, by_column={})
    return Changes(
        staged=counts[0],
        existing=counts[1],
        updated=counts[2],
        by_column=dict(zip(comparison.columns, counts[3:], strict=True)),
    )


def _changes(
    connection: Connection[Any], comparison: Comparison, column: str, *, limit: int | None
) -> list[tuple[Any, ...]]:
    """(record key, before, after) of an existing record's column where the load changes it, by
    key; values as they are (`limit` None) or, for a few samples, as text cut at 120 characters."""
    value = sql.SQL("r.{0}, s.{0}" if limit is None else
                    "left(r.{0}::text, 120), left(s.{0}::text, 120)")  # fmt: skip
    return connection.execute(
        sql.SQL(
            "SELECT {key}, {values} FROM {join} WHERE r.{first} IS NOT NULL AND {differs} "
            "ORDER BY 1 LIMIT %s"
        ).format(
            key=comparison._key(),
            values=value.format(sql.Identifier(column)),
            join=comparison._join(),
            first=sql.Identifier(comparison.match[0]),
            differs=_differs(column),
        ),
        (limit,),
    ).fetchall()


def samples(
    connection: Connection[Any], comparison: Comparison, column: str, limit: int = SAMPLES
) -> list[tuple[str, str | None, str | None]]:
    """A few (record key, before, after) of a column's changes (a geometry's text is long)."""
    rows = _changes(connection, comparison, column, limit=limit)
    return [(str(key), before, after) for key, before, after in rows]


def changed_text(
    connection: Connection[Any], comparison: Comparison, columns: Sequence[str]
) -> list[tuple[str, str, str, str | None]]:
    """Every (record key, column, before, after) where a text column of an existing record would
    change from a value: what the suspicious-text checks read (only changed values travel)."""
    return [
        (str(key), column, str(before), after)
        for column in columns
        for key, before, after in _changes(connection, comparison, column, limit=None)
        if before is not None
    ]


def drop_staged(connection: Connection[Any], comparison: Comparison, keys: Sequence[str]) -> None:
    """Take these records (by their `_key` form) out of the staged load."""
    if keys:
        connection.execute(
            sql.SQL("DELETE FROM {staging} AS s WHERE {key} = ANY(%s)").format(
                staging=sql.Identifier(comparison.staging), key=comparison._key()
            ),
            (list(keys),),
        )
