"""Reading the access log: a subject's history (for `myAccessLog`) and stewards' searches."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import cursors
from gateway.audit.chain import HASHED_FIELDS
from gateway.audit.models import AccessLogEntry
from gateway.cursors import CursorError
from registries.history import VIETNAM_TIME

MAX_PAGE = 100
# what stewards export: the entry without its chain bookkeeping and raw decision
EXPORT_COLUMNS = tuple(f for f in HASHED_FIELDS if f not in {"chain_key", "seq", "decision"})


def encode_cursor(entry: AccessLogEntry) -> str:
    return cursors.encode_cursor(entry.occurred_at.isoformat(), str(entry.entry_id))


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    occurred, entry_id = cursors.decode_timed_cursor(cursor)
    try:
        return occurred, int(entry_id)
    except ValueError as error:
        raise CursorError("invalid cursor") from error


@dataclass(frozen=True)
class Page:
    entries: Sequence[AccessLogEntry]
    end_cursor: str | None
    has_next_page: bool


async def _page(session: AsyncSession, query: Select[Any], first: int, after: str | None) -> Page:
    size = max(1, min(first, MAX_PAGE))
    if after is not None:
        occurred, entry_id = decode_cursor(after)
        query = query.where(
            tuple_(AccessLogEntry.occurred_at, AccessLogEntry.entry_id) < (occurred, entry_id)
        )
    query = query.order_by(AccessLogEntry.occurred_at.desc(), AccessLogEntry.entry_id.desc())
    rows = list((await session.execute(query.limit(size + 1))).scalars())
    entries = rows[:size]
    return Page(
        entries=entries,
        end_cursor=encode_cursor(entries[-1]) if entries else None,
        has_next_page=len(rows) > size,
    )


async def subject_history(
    *,
    session: AsyncSession,
    subject_type: str,
    subject_id: str,
    first: int = 20,
    after: str | None = None,
) -> Page:
    """Who saw this subject's data, newest first."""
    query = select(AccessLogEntry).where(
        AccessLogEntry.subject_type == subject_type, AccessLogEntry.subject_id == subject_id
    )
    return await _page(session, query, first, after)


@dataclass(frozen=True)
class AccessLogFilter:
    """What a steward searches by; unset fields do not filter."""

    agency: str | None = None
    purpose: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> Select[Any]:
        conditions = []
        if self.agency is not None:
            conditions.append(AccessLogEntry.agency == self.agency)
        if self.purpose is not None:
            conditions.append(AccessLogEntry.purpose == self.purpose)
        if self.subject_id is not None:
            conditions.append(AccessLogEntry.subject_id == self.subject_id)
        if self.since is not None:
            conditions.append(AccessLogEntry.occurred_at >= self.since)
        if self.until is not None:
            conditions.append(AccessLogEntry.occurred_at < self.until)
        return select(AccessLogEntry).where(*conditions)


async def search(
    *,
    session: AsyncSession,
    where: AccessLogFilter,
    first: int = 50,
    after: str | None = None,
) -> Page:
    return await _page(session, where.query(), first, after)


async def export_csv(*, session: AsyncSession, where: AccessLogFilter) -> AsyncIterator[str]:
    """The matching entries as CSV, streamed in chunks (for the steward API's download)."""
    query = where.query().order_by(AccessLogEntry.occurred_at, AccessLogEntry.entry_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    result = await session.stream_scalars(query.execution_options(yield_per=1000))
    async for entry in result:
        writer.writerow(
            [
                "|".join(value) if isinstance(value, list) else value
                for value in (getattr(entry, column) for column in EXPORT_COLUMNS)
            ]
        )
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@dataclass(frozen=True)
class DailyCount:
    agency: str
    day: date  # in Vietnam time
    entries: int


async def daily_counts(
    *, session: AsyncSession, since: date, until: date, agency: str | None = None
) -> list[DailyCount]:
    """Access-log entries per agency and day (Vietnam time), `since` to `until` inclusive."""
    day = func.date(func.timezone(VIETNAM_TIME.key, AccessLogEntry.occurred_at)).label("day")
    query = (
        select(AccessLogEntry.agency, day, func.count().label("entries"))
        .where(
            AccessLogEntry.occurred_at >= day_start(since),
            AccessLogEntry.occurred_at < day_start(until + timedelta(days=1)),
        )
        .group_by(AccessLogEntry.agency, day)
        .order_by(day, AccessLogEntry.agency)
    )
    if agency is not None:
        query = query.where(AccessLogEntry.agency == agency)
    rows = await session.execute(query)
    return [DailyCount(agency=a, day=d, entries=int(n)) for a, d, n in rows]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, VIETNAM_TIME)
