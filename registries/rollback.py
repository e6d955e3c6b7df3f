"""Undo one load as new history: nothing is deleted.

A load runs in one transaction, so every version it opened starts at its instant (`merged_at`)
and every version it closed ends then. Undoing it closes the versions it opened and opens again,
as new versions starting now, copies of those it closed: the history shows the load and its
rollback. It is refused when any record the load touched has changed since (a later load, a
correction, or the rollback of a later load, which is itself new history), since undoing it would
then also undo what came after: only the latest change to a set of records can be undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection, sql

# The history bookkeeping every versioned table has (registries.history.Versioned): a rollback
# copies every other column of a version it reopens.
_BOOKKEEPING = ("version_id", "valid_from", "valid_to", "recorded_at")


class RollbackRefused(RuntimeError):  # noqa: N818 - the operator's answer
    """Undoing the load would also undo later changes to the same records."""


@dataclass(frozen=True)
class RolledBack:
    closed: int  # versions the load opened, closed now
    reopened: int  # versions the load closed, opened again now


def _key(prefix: str, columns: Sequence[str]) -> sql.Composable:
    return sql.SQL("({})").format(
        sql.SQL(", ").join(sql.Identifier(prefix, column) for column in columns)
    )


def _attributes(connection: Connection[Any], table: str) -> list[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(name) for (name,) in rows if name not in _BOOKKEEPING]


def later_changes(
    connection: Connection[Any], tables: Sequence[tuple[str, tuple[str, ...]]], at: datetime
) -> list[str]:
    """The tables where a record the load at `at` touched has changed since (empty: none)."""
    changed = []
    for table, key in tables:
        touched = sql.SQL(
            "SELECT {key} FROM {table} AS t WHERE t.valid_from = %(at)s OR t.valid_to = %(at)s"
        ).format(key=_key("t", key), table=sql.Identifier(table))
        row = connection.execute(
            sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM {table} AS n WHERE n.valid_from > %(at)s "
                "AND {key} IN ({touched})) "
                "OR EXISTS (SELECT 1 FROM {table} AS o WHERE o.valid_from = %(at)s "
                "AND o.valid_to IS NOT NULL)"
            ).format(table=sql.Identifier(table), key=_key("n", key), touched=touched),
            {"at": at},
        ).fetchone()
        if row and row[0]:
            changed.append(table)
    return changed


def roll_back(
    connection: Connection[Any], tables: Sequence[tuple[str, tuple[str, ...]]], at: datetime
) -> RolledBack:
    """Undo the load whose instant is `at`, inside the caller's transaction; RollbackRefused if
    a record it touched has changed since. Every table's versions are closed before any is
    reopened, so no two open versions of a record ever coexist."""
    changed = later_changes(connection, tables, at)
    if changed:
        raise RollbackRefused(
            f"records this load touched have changed since (by a later load or a rollback), in "
            f"{', '.join(changed)}: undoing it would undo those changes too; load a corrected "
            "export instead"
        )
    closed = reopened = 0
    for table, _ in tables:
        closed += connection.execute(
            sql.SQL(
                "UPDATE {} SET valid_to = now() WHERE valid_from = %s AND valid_to IS NULL"
            ).format(sql.Identifier(table)),
            (at,),
        ).rowcount
    for table, _ in tables:
        columns = sql.SQL(", ").join(map(sql.Identifier, _attributes(connection, table)))
        reopened += connection.execute(
            sql.SQL("INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} "
                    "WHERE valid_to = %s").format(table=sql.Identifier(table), columns=columns),
            (at,),
        ).rowcount  # fmt: skip
    return RolledBack(closed=closed, reopened=reopened)
