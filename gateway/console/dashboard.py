"""The stewards' dashboard: disclosures per agency per day (the access log's own daily counts,
gateway/audit/service.py), refusals by reason, what waits for a decision, and the state of the
access log's hash chains (gateway/audit/verify.py, run on demand)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit import service as access_log
from gateway.audit.models import AccessLogEntry
from gateway.audit.verify import verify
from gateway.console.charts import StackedBars, disclosures_chart
from gateway.console.context import Verification
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.policy.models import AgencyDocument, Agreement, Proposal
from registries.history import VIETNAM_TIME, is_current

DAYS = 14
MOST_REASONS = 10


@dataclass(frozen=True)
class ChainStatus:
    entries: int
    chains: int
    lanes: int


@dataclass(frozen=True)
class Dashboard:
    since: date
    until: date
    chart: StackedBars
    counts: list[access_log.DailyCount]
    refusals: list[tuple[str, int]]
    waiting: dict[str, int]
    chain: ChainStatus


async def refusals_by_reason(
    *, session: AsyncSession, since: datetime, limit: int = MOST_REASONS
) -> list[tuple[str, int]]:
    """Fields refused since `since`, counted by the policy's reason (each entry's
    `decision.reasons`: field → reason, gateway/graph/guard.py)."""
    reason = func.jsonb_each_text(AccessLogEntry.decision["reasons"]).table_valued("key", "value")
    query = (
        select(reason.c.value, func.count())
        .select_from(AccessLogEntry)
        .join(reason, text("true"))
        .where(AccessLogEntry.occurred_at >= since)
        .group_by(reason.c.value)
        .order_by(func.count().desc(), reason.c.value)
        .limit(limit)
    )
    return [(str(why), int(n)) for why, n in await session.execute(query)]


async def waiting(*, session: AsyncSession) -> dict[str, int]:
    """What waits for a steward's decision, by kind."""
    found: dict[str, int] = {}
    for name, model in (("agreements", Agreement), ("documents", AgencyDocument)):
        query = select(func.count()).where(is_current(model), model.status == "submitted")
        found[name] = int((await session.execute(query)).scalar_one())
    proposals = select(Proposal.kind, func.count()).where(
        is_current(Proposal), Proposal.status == "submitted"
    )
    rows = await session.execute(proposals.group_by(Proposal.kind))
    kinds = {str(kind): int(n) for kind, n in rows}
    found["purposes"] = kinds.get("purpose", 0)
    found["forms"] = kinds.get("form", 0)
    return found


async def chain_status(*, session: AsyncSession) -> ChainStatus:
    """From the chains' heads (gateway/audit/writer.py): a chain per writer lane and month, its
    last sequence number the entries it holds."""
    row = (
        await session.execute(
            text(
                "SELECT count(*), coalesce(sum(seq), 0), "
                "count(DISTINCT split_part(chain_key, ':', 1)) FROM access_log_heads"
            )
        )
    ).one()
    return ChainStatus(chains=int(row[0]), entries=int(row[1]), lanes=int(row[2]))


async def dashboard(*, session: AsyncSession, today: date, days: int = DAYS) -> Dashboard:
    since = today - timedelta(days=days - 1)
    counts = await access_log.daily_counts(session=session, since=since, until=today)
    return Dashboard(
        since=since,
        until=today,
        chart=disclosures_chart(counts, since=since, until=today),
        counts=counts,
        refusals=await refusals_by_reason(session=session, since=access_log.day_start(since)),
        waiting=await waiting(session=session),
        chain=await chain_status(session=session),
    )


router = APIRouter()


@router.get("/")
async def show(*, request: Request, console: ConsoleDep, _session: StewardSession) -> Response:
    async with console.admin.transaction() as session:
        found = await dashboard(session=session, today=datetime.now(VIETNAM_TIME).date())
    return render(request, "dashboard.html", nav="dashboard", board=found, days=DAYS,
                  verification=console.last_verification)  # fmt: skip


@router.post("/audit/verify")
async def verify_chains(*, console: ConsoleDep, steward: StewardDep, _form: FormDep) -> Response:
    """Walks every chain (`lienthong audit verify`'s walk), one verification at a time."""
    async with console.verifying:
        report = await asyncio.to_thread(verify, console.settings.libpq_url)
        console.last_verification = Verification(
            report=report, at=datetime.now(VIETNAM_TIME), by=steward.subject
        )
    return redirect("/console/")
