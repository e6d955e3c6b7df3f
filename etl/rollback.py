"""`lienthong etl rollback RUN_ID`: undo one load as new history, and say so in `etl_runs`.

The run being undone and the rollback are both `etl_runs` rows: the rollback's has status
`rollback`, `rollback_of` the run, who ran it, and how many versions it closed (`updated`) and
reopened (`inserted`); the run gets `rolled_back_by`. A run can be rolled back once, only if it
merged something, and only while no record it touched has changed since (registries.rollback).
Its change events (a move undone is a move back) are written in its transaction, under the
rollback's own run (`etl:<rollback run id>`; registries.events).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

import psycopg

from etl.pipeline import NOT_MIGRATED, LoadError
from etl.targets import TARGETS
from lienthong.settings import Settings
from registries.events import Outbox
from registries.rollback import RollbackRefused, roll_back

MERGED = ("done", "unbalanced")


@dataclass(frozen=True)
class RollbackReport:
    run_id: int  # the rollback's own run
    rolled_back: int
    target: str
    closed: int
    reopened: int


def rollback(*, settings: Settings, run_id: int, actor: str | None = None) -> RollbackReport:
    """Undo load `run_id` in one transaction; RollbackRefused (nothing changed) when it cannot."""
    who = actor or getpass.getuser()
    try:
        connection = psycopg.connect(settings.libpq_url)
    except psycopg.OperationalError as error:
        raise LoadError(f"cannot reach the database: {error}") from error
    with connection, connection.transaction():
        try:
            found = connection.execute(
                "SELECT target, status, merged_at, rolled_back_by FROM etl_runs "
                "WHERE run_id = %s FOR UPDATE",
                (run_id,),
            ).fetchone()
        except psycopg.errors.UndefinedColumn as error:
            raise LoadError(NOT_MIGRATED) from error
        if found is None:
            raise RollbackRefused(f"there is no load run {run_id}")
        target, status, merged_at, rolled_back_by = found
        if rolled_back_by is not None:
            raise RollbackRefused(f"run {run_id} was already rolled back by run {rolled_back_by}")
        if status not in MERGED or merged_at is None:
            raise RollbackRefused(f"run {run_id} merged nothing (its status is {status!r})")
        if target not in TARGETS:
            raise RollbackRefused(f"run {run_id} loaded {target!r}, which cannot be rolled back")
        counts = roll_back(connection, TARGETS[target].history, merged_at)
        rollback_id = _record(
            connection, run_id=run_id, target=str(target), actor=who, closed=counts.closed,
            reopened=counts.reopened,
        )  # fmt: skip
        Outbox(f"etl:{rollback_id}").undone(connection, TARGETS[target].history)
    return RollbackReport(rollback_id, run_id, str(target), counts.closed, counts.reopened)


def _record(
    connection: psycopg.Connection[Any],
    *,
    run_id: int,
    target: str,
    actor: str,
    closed: int,
    reopened: int,
) -> int:
    row = connection.execute(
        "INSERT INTO etl_runs (target, source_path, source_sha256, status, read, inserted, "
        "updated, unchanged, rejected, rejected_by_reason, finished_at, merged_at, actor, "
        "rollback_of) VALUES (%s, %s, '', 'rollback', 0, %s, %s, 0, 0, '{}', now(), now(), %s, "
        "%s) RETURNING run_id",
        (target, f"rollback of run {run_id}", reopened, closed, actor, run_id),
    ).fetchone()
    if row is None:
        raise LoadError("etl_runs returned no run id")
    connection.execute(
        "UPDATE etl_runs SET rolled_back_by = %s WHERE run_id = %s", (row[0], run_id)
    )
    return int(row[0])
