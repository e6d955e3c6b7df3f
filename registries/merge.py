"""The set-based merge every registry load ends with (psycopg, inside the load's transaction).

For one versioned table and a staged source of rows: close the open version of every key whose
attributes changed, then open a version for every staged key that has no open version (new, or
just closed). Two statements whatever the number of rows; unchanged keys are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection, sql


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int
    unchanged: int


def _columns(prefix: str, names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(prefix, name) for name in names)


def merge_staged(
    connection: Connection[tuple[object, ...]],
    *,
    table: str,
    source: sql.Composable,
    key: str,
    columns: tuple[str, ...],
) -> MergeCounts:
    attributes = tuple(column for column in columns if column != key)
    closed = connection.execute(
        sql.SQL(
            "UPDATE {table} AS r SET valid_to = now() FROM ({source}) AS s "
            "WHERE r.{key} = s.{key} AND r.valid_to IS NULL "
            "AND ({current}) IS DISTINCT FROM ({staged})"
        ).format(
            table=sql.Identifier(table),
            source=source,
            key=sql.Identifier(key),
            current=_columns("r", attributes),
            staged=_columns("s", attributes),
        )
    ).rowcount
    opened = connection.execute(
        sql.SQL(
            "INSERT INTO {table} ({columns}) SELECT {staged} FROM ({source}) AS s "
            "WHERE NOT EXISTS (SELECT 1 FROM {table} AS r "
            "WHERE r.{key} = s.{key} AND r.valid_to IS NULL)"
        ).format(
            table=sql.Identifier(table),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            staged=_columns("s", columns),
            source=source,
            key=sql.Identifier(key),
        )
    ).rowcount
    row = connection.execute(sql.SQL("SELECT count(*) FROM ({}) AS s").format(source)).fetchone()
    total = int(str(row[0])) if row else 0
    return MergeCounts(inserted=opened - closed, updated=closed, unchanged=total - opened)
