"""The stewards' dashboard: disclosures per agency per day (the access log's own daily counts,
gateway/audit/service.py), refusals by reason, what waits for a decision, and the state of the
access log's hash chains (gateway/audit/verify.py, run on demand).

The access log is append-only, so an hour that is over never changes: each process counts a
settled hour once and keeps its figures (`SettledHours`), and each view reads from the log only
the entries not settled yet — the last hour's or so — instead of 14 days' (at 1,000,000 entries
over 30 days, 0.75 s a view when the 14 days were read each time: docs/performance.md)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit import service as access_log
from gateway.audit.verify import verify
from gateway.console.charts import StackedBars, disclosures_chart
from gateway.console.context import Verification
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.policy import service as policy
from registries.history import VIETNAM_TIME

DAYS = 14
MOST_REASONS = 10
# An hour is settled once it has been over this long: the writer stamps a batch just before it
# writes it in one statement (gateway/audit/writer.py), so no entry of a settled hour can still
# be on its way. Hours are whole in Vietnam time too (UTC+7): each belongs to one day there.
SETTLED = timedelta(minutes=5)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Dashboard:
    since: date
    until: date
    chart: StackedBars
    counts: list[access_log.DailyCount]
    refusals: list[tuple[str, int]]
    waiting: dict[str, int]
    chain: access_log.ChainStatus


class SettledHours:
    """The figures of settled hours, counted once by this process and kept while the dashboard
    shows them."""

    def __init__(self) -> None:
        self._hours: dict[datetime, access_log.HourFigures] = {}

    async def figures(
        self, *, session: AsyncSession, since: datetime, until: datetime
    ) -> dict[datetime, access_log.HourFigures]:
        """The hours from `since` to `until` (excluded), both on the hour."""
        wanted = [since + HOUR * n for n in range(int((until - since) / HOUR))]
        missing = [at for at in wanted if at not in self._hours]
        if missing:  # one read from the first hour missing: the first view reads the 14 days
            found = await access_log.hourly_figures(session=session, since=missing[0], until=until)
            for at in missing:
                self._hours[at] = found.get(at, access_log.HourFigures({}, Counter()))
        for at in [at for at in self._hours if at < since]:  # off the chart: forgotten
            del self._hours[at]
        return {at: self._hours[at] for at in wanted}


# Per database (each process, each test's app on its own database, keeps its own)
_SETTLED: dict[str, SettledHours] = {}


def settled_hours(database: str) -> SettledHours:
    return _SETTLED.setdefault(database, SettledHours())


def _on_the_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def dashboard(
    *, session: AsyncSession, now: datetime, settled: SettledHours, days: int = DAYS
) -> Dashboard:
    today = now.astimezone(VIETNAM_TIME).date()
    since = today - timedelta(days=days - 1)
    start = access_log.day_start(since).astimezone(UTC)
    settled_until = max(start, _on_the_hour(now - SETTLED))  # the hours after it: from the log
    hours = await settled.figures(session=session, since=start, until=settled_until)
    hours |= await access_log.hourly_figures(session=session, since=settled_until, until=None)
    per_day: dict[tuple[date, str], list[int]] = {}
    refused: Counter[str] = Counter()
    for at, figures in hours.items():
        day = at.astimezone(VIETNAM_TIME).date()
        if not since <= day <= today:
            continue
        for agency, (entries, whole, absent) in figures.counts.items():
            summed = per_day.setdefault((day, agency), [0, 0, 0])
            summed[0] += entries
            summed[1] += whole
            summed[2] += absent
        refused.update(figures.refusals)
    counts = [
        access_log.DailyCount(agency=agency, day=day, entries=n, refused=whole, absent=absent)
        for (day, agency), (n, whole, absent) in sorted(per_day.items())
    ]
    refusals = sorted(refused.items(), key=lambda item: (-item[1], item[0]))[:MOST_REASONS]
    return Dashboard(
        since=since,
        until=today,
        chart=disclosures_chart(counts, since=since, until=today),
        counts=counts,
        refusals=refusals,
        waiting=await policy.waiting(session=session),
        chain=await access_log.chain_status(session=session),
    )


router = APIRouter()


@router.get("/")
async def show(*, request: Request, console: ConsoleDep, _session: StewardSession) -> Response:
    async with console.admin.transaction() as session:
        found = await dashboard(session=session, now=datetime.now(VIETNAM_TIME),
                                settled=settled_hours(console.settings.libpq_url))  # fmt: skip
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
