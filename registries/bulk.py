"""Bulk merge: a registry table's costly structures set aside for a large merge, then rebuilt.

Inserting a row into a registry table maintains, row by row, the GiST index of its history
exclusion constraint and its secondary B-tree indexes. For a load that brings far more rows than
the table holds (its first fill above all), building them once over the finished table is
cheaper (`python -m bench etl`: bulk floor against registry floor). Inside the load's
transaction, `rebuilt` drops the exclusion constraints and secondary indexes of the given
tables, lets the merge run, and re-creates each from the definition the catalog held
(`pg_get_constraintdef`, `pg_get_indexdef`: what the migrations created, so the two cannot
drift). `ADD CONSTRAINT` validates every row and `CREATE UNIQUE INDEX` every key, so nothing the
normal path would refuse can land; a violation fails the statement and PostgreSQL's
transactional DDL rolls the whole load back, structures included. The merge writes its change
events (registries.events) inside the body, structures down: the outbox finds the versions it
compares by hash joins, which need none of them, and a first fill (the usual bulk load)
records none.

The price is the lock: dropping a constraint takes ACCESS EXCLUSIVE on the table until the load
commits, so readers of the registry being loaded wait for the merge and the rebuild (not for
reading and validating the file, which happens before). `should_bulk` therefore only chooses
this path where that is acceptable: a table still being filled, whose current content is small
beside the load. Foreign keys stay, checked row by row: dropping one would take the same lock
on the table it references (communes, ethnic groups…), stalling reads of every other registry
for a load of one. Primary keys and CHECK constraints stay too: a primary key is a cheap B-tree
on an identity column, and a CHECK costs the same per row whether checked on insert or on
re-adding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from psycopg import Connection, sql

# Below this many staged rows the rebuild saves little and the lock is not worth taking.
BULK_MIN_ROWS = 10_000
# Bulk only when the load brings at least this many times the rows the table holds.
BULK_RATIO = 10
# Memory for each index build of the rebuild (this transaction only).
REBUILD_MAINTENANCE_WORK_MEM = "512MB"


@dataclass(frozen=True)
class Structure:
    """An exclusion constraint or secondary index, as the catalog defines it."""

    schema: str
    table: str
    name: str
    kind: str  # "constraint" or "index"
    definition: str  # pg_get_constraintdef (constraint) or pg_get_indexdef (index)


def should_bulk(connection: Connection[tuple[object, ...]], *, table: str, staged: int) -> bool:
    """At least BULK_MIN_ROWS staged rows, and the table holding at most a BULK_RATIO-th of that
    (counted no further than needed)."""
    if staged < BULK_MIN_ROWS:
        return False
    limit = staged // BULK_RATIO + 1
    row = connection.execute(
        sql.SQL("SELECT count(*) FROM (SELECT FROM {} LIMIT %s) AS r").format(
            sql.Identifier(table)
        ),
        (limit,),
    ).fetchone()
    existing = cast(int, row[0]) if row else 0
    return existing < limit


def deferrable_structures(
    connection: Connection[tuple[object, ...]], tables: Sequence[str]
) -> list[Structure]:
    """The exclusion constraints and secondary indexes of `tables` (indexes that back a primary
    key, unique or exclusion constraint come with their constraint)."""
    rows = connection.execute(
        "SELECT n.nspname, t.relname, c.conname, 'constraint', pg_get_constraintdef(c.oid) "
        "FROM pg_constraint AS c JOIN pg_class AS t ON t.oid = c.conrelid "
        "JOIN pg_namespace AS n ON n.oid = t.relnamespace "
        "WHERE c.conrelid = ANY(%(tables)s::regclass[]) AND c.contype = 'x' "
        "UNION ALL "
        "SELECT n.nspname, t.relname, x.relname, 'index', pg_get_indexdef(i.indexrelid) "
        "FROM pg_index AS i JOIN pg_class AS x ON x.oid = i.indexrelid "
        "JOIN pg_class AS t ON t.oid = i.indrelid JOIN pg_namespace AS n ON n.oid = t.relnamespace "
        "WHERE i.indrelid = ANY(%(tables)s::regclass[]) "
        "AND NOT EXISTS (SELECT FROM pg_constraint AS c WHERE c.conindid = i.indexrelid "
        "AND c.conrelid = i.indrelid) "
        "ORDER BY 1, 2, 4, 3",
        {"tables": list(tables)},
    ).fetchall()
    return [Structure(*(str(value) for value in row)) for row in rows]


def drop(connection: Connection[tuple[object, ...]], structure: Structure) -> None:
    if structure.kind == "constraint":
        statement = sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(structure.schema, structure.table), sql.Identifier(structure.name)
        )
    else:
        statement = sql.SQL("DROP INDEX {}").format(
            sql.Identifier(structure.schema, structure.name)
        )
    connection.execute(statement)


def create(connection: Connection[tuple[object, ...]], structure: Structure) -> None:
    # The definitions are the server's own rendering of what the migrations created, not input.
    definition = sql.SQL(structure.definition)
    if structure.kind == "constraint":
        connection.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(structure.schema, structure.table),
                sql.Identifier(structure.name),
                definition,
            )
        )
    else:
        connection.execute(definition)


def for_rebuilding(connection: Connection[tuple[object, ...]]) -> None:
    """The session settings the rebuild runs with, for the rest of the caller's transaction."""
    connection.execute(
        "SELECT set_config('maintenance_work_mem', %s, true)", (REBUILD_MAINTENANCE_WORK_MEM,)
    )


@contextmanager
def rebuilt(connection: Connection[tuple[object, ...]], tables: Sequence[str]) -> Iterator[None]:
    """Within the caller's transaction: drop the tables' deferrable structures, run the body,
    re-create them exactly as they were (validating every row). On an error the caller's
    transaction must roll back, which restores them too."""
    connection.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(map(sql.Identifier, tables))
        )
    )
    structures = deferrable_structures(connection, tables)
    for structure in structures:
        drop(connection, structure)
    yield
    for_rebuilding(connection)
    for structure in structures:
        create(connection, structure)
