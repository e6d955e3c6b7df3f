"""The set-based merge every registry load ends with (psycopg, inside the load's transaction).

For one versioned table and a staged source of rows: close the open version of every key whose
attributes changed, then open a version for every staged key that has no open version (new, or
just closed). Two statements whatever the number of rows; unchanged keys are not touched.

Both write their change events into the outbox in the same transaction (registries.events): a
closed version ends at `now()` and an opened one starts then (the column default), which is how
the outbox pairs them. Whether the table held a current row is asked before anything is written:
a table's first fill records no events.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection, sql

from registries.events import Outbox


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
    outbox: Outbox,
) -> MergeCounts:
    attributes = tuple(column for column in columns if column != key)
    known = outbox.known(connection, table)  # before anything is written: a first fill?
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
    if known:
        outbox.versions(
            connection,
            table=table,
            keys=sql.SQL("SELECT s.{} FROM ({}) AS s").format(sql.Identifier(key), source),
            changed_only=opened == closed,  # no new key: none removed (a merge never removes)
        )
    row = connection.execute(sql.SQL("SELECT count(*) FROM ({}) AS s").format(source)).fetchone()
    total = int(str(row[0])) if row else 0
    return MergeCounts(inserted=opened - closed, updated=closed, unchanged=total - opened)


def merge_children(
    connection: Connection[tuple[object, ...]],
    *,
    table: str,
    source: sql.Composable,
    parents: sql.Composable,
    scope: str,
    key: tuple[str, ...],
    attributes: tuple[str, ...],
    outbox: Outbox,
) -> set[str]:
    """Make each staged parent's children (e.g. an enterprise's representatives) exactly the
    staged set: close changed or missing ones, open new or changed ones. Returns the parents
    (`scope` values) whose children changed; the outbox records an event for each that was
    current before, when an event type is declared on `table` and it held a current row."""
    known = outbox.known(connection, table)
    match = sql.SQL(" AND ").join(
        sql.SQL("r.{0} = s.{0}").format(sql.Identifier(column)) for column in key
    )
    changed_attributes = (
        sql.SQL("({}) IS DISTINCT FROM ({})").format(
            _columns("r", attributes), _columns("s", attributes)
        )
        if attributes
        else sql.SQL("false")
    )
    closed = connection.execute(
        sql.SQL(
            "UPDATE {table} AS r SET valid_to = now() "
            "WHERE r.valid_to IS NULL AND r.{scope} IN (SELECT {scope} FROM ({parents}) AS p) "
            "AND NOT EXISTS (SELECT 1 FROM ({source}) AS s WHERE {match} "
            "AND NOT {changed}) RETURNING r.{scope}"
        ).format(
            table=sql.Identifier(table),
            scope=sql.Identifier(scope),
            parents=parents,
            source=source,
            match=match,
            changed=changed_attributes,
        )
    ).fetchall()
    opened = connection.execute(
        sql.SQL(
            "INSERT INTO {table} ({columns}) SELECT {staged} FROM ({source}) AS s "
            "WHERE NOT EXISTS (SELECT 1 FROM {table} AS r WHERE {match} AND r.valid_to IS NULL) "
            "RETURNING {scope}"
        ).format(
            table=sql.Identifier(table),
            columns=sql.SQL(", ").join(map(sql.Identifier, (*key, *attributes))),
            staged=_columns("s", (*key, *attributes)),
            source=source,
            match=match,
            scope=sql.Identifier(scope),
        )
    ).fetchall()
    changed = {str(row[0]) for row in (*closed, *opened)}
    if known and changed:
        outbox.children(connection, table=table, parents=changed)
    return changed


def count_with_children(
    connection: Connection[tuple[object, ...]],
    *,
    table: str,
    key: str,
    counts: MergeCounts,
    children_changed: set[str],
) -> MergeCounts:
    """Counts per parent record, where a change in its children also makes it `updated`."""
    if not children_changed:
        return counts
    row = connection.execute(
        sql.SQL(
            "SELECT count(*) FROM {table} WHERE {key} = ANY(%s) "
            "AND valid_to IS NULL AND valid_from = now()"
        ).format(table=sql.Identifier(table), key=sql.Identifier(key)),
        (sorted(children_changed),),
    ).fetchone()
    already_counted = int(str(row[0])) if row else 0
    extra = len(children_changed) - already_counted
    return MergeCounts(
        inserted=counts.inserted, updated=counts.updated + extra, unchanged=counts.unchanged - extra
    )
