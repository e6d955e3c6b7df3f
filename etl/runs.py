"""The loads' bookkeeping read back: runs (`etl_runs`) newest first, those the change-rate guard
stopped that still wait for someone to accept their changes, and a run's rejects
(`etl_rejects`). What the console's load pages show (gateway/console/etl_runs.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from etl.models import EtlReject, EtlRun
from etl.rollback import MERGED


def waiting_condition() -> Any:
    """A run the change-rate guard stopped (figures over their limits, nothing merged) that no
    later load of the same export has merged since."""
    later = aliased(EtlRun)
    merged_since = exists().where(
        later.target == EtlRun.target,
        later.source_sha256 == EtlRun.source_sha256,
        later.run_id > EtlRun.run_id,
        later.status.in_(MERGED),
    )
    return and_(
        EtlRun.status == "refused",
        func.jsonb_array_length(func.coalesce(EtlRun.guard["over"], func.jsonb("[]"))) > 0,
        ~merged_since,
    )


async def runs(
    *,
    session: AsyncSession,
    target: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int,
) -> list[EtlRun]:
    """Up to `limit` runs, newest first: of a target, with a status, older than run `before`."""
    query = select(EtlRun)
    if target:
        query = query.where(EtlRun.target == target)
    if status:
        query = query.where(EtlRun.status == status)
    if before:
        query = query.where(EtlRun.run_id < before)
    return list((await session.scalars(query.order_by(EtlRun.run_id.desc()).limit(limit))).all())


async def waiting_runs(*, session: AsyncSession) -> list[EtlRun]:
    """Every run waiting for acceptance (`waiting_condition`), newest first."""
    query = select(EtlRun).where(waiting_condition()).order_by(EtlRun.run_id.desc())
    return list((await session.scalars(query)).all())


async def run_targets(*, session: AsyncSession) -> list[str]:
    """The targets any run has loaded, in order."""
    return list(await session.scalars(select(EtlRun.target).distinct().order_by(EtlRun.target)))


async def get_run(*, session: AsyncSession, run_id: int) -> EtlRun | None:
    return await session.get(EtlRun, run_id)


async def is_waiting(*, session: AsyncSession, run_id: int) -> bool:
    """Whether this run waits for acceptance (`waiting_condition`)."""
    return bool(await session.scalar(select(waiting_condition()).where(EtlRun.run_id == run_id)))


async def reject_count(*, session: AsyncSession, run_id: int) -> int:
    """How many rows the run rejected, as `etl_rejects` holds them."""
    found = await session.scalar(
        select(func.count()).select_from(EtlReject).where(EtlReject.run_id == run_id)
    )
    return int(found or 0)
