"""Reading the access log: a subject's history (for `myAccessLog`) and stewards' searches."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, literal, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import cursors
from gateway.audit.chain import HASHED_FIELDS
from gateway.audit.models import AccessLogEntry
from gateway.cursors import CursorError
from gateway.dossiers.models import Dossier
from registries.history import VIETNAM_TIME

MAX_PAGE = 100
# What an entry records (decision->>'outcome'): a subject's data given (in part), a subject
# refused whole, a lookup of a key the registry does not hold, a steward's oversight read, a
# citizen's read of their own log or consents, a one-stop dossier naming the subject being
# registered. Entries older than these outcomes have none and are disclosures.
OUTCOMES = ("disclosed", "refused", "absent", "oversight", "self", "dossier")
# What a citizen is shown of their own log (`myAccessLog`): never lookups of an absent key, nor
# their own reads.
SHOWN_TO_CITIZENS = ("disclosed", "refused", "oversight", "dossier")


def outcome_column() -> ColumnElement[str]:
    return cast("ColumnElement[str]", AccessLogEntry.decision["outcome"].astext)


def dossier_column() -> ColumnElement[str]:
    """The dossier a request served (requests of case-bound purposes name one)."""
    return cast("ColumnElement[str]", AccessLogEntry.decision["dossier"].astext)


# what stewards export: the entry without its chain bookkeeping and raw decision, with the
# dossier it served (from the decision)
EXPORT_COLUMNS = (
    *(f for f in HASHED_FIELDS if f not in {"chain_key", "seq", "decision"}),
    "dossier",
)


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
    known_since: datetime | None = None,
    agency: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page:
    """Who saw (or tried to see) this subject's data, newest first, as the citizen is shown it:
    disclosures, refusals, oversight reads and dossiers naming them — never lookups of an absent
    key, and no refusal or dossier from before `known_since` (when the registry first recorded
    the subject; until then the key named no one, even if a citizen holds it now). The citizen
    may narrow it to one agency and a period (`since` included, `until` excluded: the /me page)."""
    outcome = outcome_column()
    query = select(AccessLogEntry).where(
        AccessLogEntry.subject_type == subject_type,
        AccessLogEntry.subject_id == subject_id,
        or_(outcome.is_(None), outcome.in_(SHOWN_TO_CITIZENS)),
    )
    if agency is not None:
        query = query.where(AccessLogEntry.agency == agency)
    if since is not None:
        query = query.where(AccessLogEntry.occurred_at >= since)
    if until is not None:
        query = query.where(AccessLogEntry.occurred_at < until)
    attempts = ("refused", "dossier")
    if known_since is not None:
        query = query.where(
            or_(
                outcome.is_(None),
                outcome.not_in(attempts),
                AccessLogEntry.occurred_at >= known_since,
            )
        )
    else:
        query = query.where(or_(outcome.is_(None), outcome.not_in(attempts)))
    return await _page(session, query, first, after)


@dataclass(frozen=True)
class AccessLogFilter:
    """What a steward searches by; unset fields do not filter."""

    agency: str | None = None
    purpose: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    outcome: str | None = None  # one of OUTCOMES: e.g. "absent" shows enumeration attempts
    dossier: str | None = None
    officer: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> Select[Any]:
        conditions: list[ColumnElement[bool]] = []
        if self.subject_type is not None:
            conditions.append(AccessLogEntry.subject_type == self.subject_type)
        if self.outcome == "disclosed":
            conditions.append(or_(outcome_column().is_(None), outcome_column() == "disclosed"))
        elif self.outcome is not None:
            conditions.append(outcome_column() == self.outcome)
        if self.agency is not None:
            conditions.append(AccessLogEntry.agency == self.agency)
        if self.purpose is not None:
            conditions.append(AccessLogEntry.purpose == self.purpose)
        if self.subject_id is not None:
            conditions.append(AccessLogEntry.subject_id == self.subject_id)
        if self.dossier is not None:
            # No index on the dossier (it would cost every write): its agency and lifetime
            # narrow the search to the (agency, occurred_at) index's range
            dossier = select(Dossier).where(Dossier.number == self.dossier).subquery()
            conditions += [
                AccessLogEntry.agency == select(dossier.c.agency).scalar_subquery(),
                AccessLogEntry.occurred_at >= select(dossier.c.opened_at).scalar_subquery(),
                AccessLogEntry.occurred_at
                <= select(
                    func.coalesce(dossier.c.closed_at, dossier.c.expires_at)
                ).scalar_subquery(),
                dossier_column() == self.dossier,
            ]
        if self.officer is not None:
            conditions.append(AccessLogEntry.officer == self.officer)
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
                for value in (_exported(entry, column) for column in EXPORT_COLUMNS)
            ]
        )
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _exported(entry: AccessLogEntry, column: str) -> Any:
    if column == "dossier":
        return (entry.decision or {}).get("dossier")
    return getattr(entry, column)


@dataclass(frozen=True)
class DailyCount:
    agency: str
    day: date  # in Vietnam time
    entries: int
    refused: int  # subjects refused whole
    absent: int  # lookups of keys the registry does not hold: enumeration shows here
    dossier: str | None = None  # with `by_dossier`: the dossier served (None: requests without)


async def daily_counts(
    *,
    session: AsyncSession,
    since: date,
    until: date,
    agency: str | None = None,
    by_dossier: bool = False,
) -> list[DailyCount]:
    """Access-log entries per agency and day (Vietnam time), `since` to `until` inclusive; with
    `by_dossier`, per agency, day and dossier."""
    day = func.date(func.timezone(VIETNAM_TIME.key, AccessLogEntry.occurred_at)).label("day")
    dossier = (dossier_column() if by_dossier else literal(None)).label("dossier")
    query = (
        select(
            AccessLogEntry.agency,
            day,
            dossier,
            func.count().label("entries"),
            func.count().filter(outcome_column() == "refused").label("refused"),
            func.count().filter(outcome_column() == "absent").label("absent"),
        )
        .where(
            AccessLogEntry.occurred_at >= day_start(since),
            AccessLogEntry.occurred_at < day_start(until + timedelta(days=1)),
        )
        .group_by(AccessLogEntry.agency, day, dossier)
        .order_by(day, AccessLogEntry.agency, dossier.asc().nulls_first())
    )
    if agency is not None:
        query = query.where(AccessLogEntry.agency == agency)
    rows = await session.execute(query)
    return [
        DailyCount(agency=a, day=d, dossier=s, entries=int(n), refused=int(r), absent=int(x))
        for a, d, s, n, r, x in rows
    ]


async def count(*, session: AsyncSession, where: AccessLogFilter) -> int:
    """How many entries match (what an export will stream)."""
    found = await session.execute(select(func.count()).select_from(where.query().subquery()))
    return int(found.scalar_one())


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, VIETNAM_TIME)


# --- the stewards' dashboard's figures (gateway/console/dashboard.py) ---


@dataclass(frozen=True)
class ChainStatus:
    entries: int
    chains: int
    lanes: int


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


@dataclass
class HourFigures:
    counts: dict[str, list[int]]  # agency → [entries, refused, absent]
    refusals: Counter[str]  # fields refused, by the policy's reason


async def hourly_figures(
    *, session: AsyncSession, since: datetime, until: datetime | None
) -> dict[datetime, HourFigures]:
    """Access-log entries per hour from `since` (to `until`, excluded; None: all), per agency —
    entries, subjects refused whole, lookups of absent keys, as the access log's daily counts
    count them (`daily_counts`) — and the fields refused by the
    policy's reason (each entry's `decision.reasons`: field → reason, gateway/graph/guard.py)."""
    # on the hour in UTC, whatever the session's time zone (the hours SettledHours keeps)
    hour = func.date_trunc("hour", AccessLogEntry.occurred_at, "UTC").label("hour")
    period = [AccessLogEntry.occurred_at >= since]
    if until is not None:
        period.append(AccessLogEntry.occurred_at < until)
    outcome = outcome_column()
    counts = (
        select(
            hour,
            AccessLogEntry.agency,
            func.count(),
            func.count().filter(outcome == "refused"),
            func.count().filter(outcome == "absent"),
        )
        .where(*period)
        .group_by(hour, AccessLogEntry.agency)
    )
    reason = func.jsonb_each_text(AccessLogEntry.decision["reasons"]).table_valued("key", "value")
    reasons = (
        select(hour, reason.c.value, func.count())
        .select_from(AccessLogEntry)
        .join(reason, text("true"))
        .where(*period)
        .group_by(hour, reason.c.value)
    )
    found: dict[datetime, HourFigures] = {}
    for at, agency, n, refused, absent in await session.execute(counts):
        figures = found.setdefault(at, HourFigures({}, Counter()))
        figures.counts[str(agency)] = [int(n), int(refused), int(absent)]
    for at, why, n in await session.execute(reasons):
        found.setdefault(at, HourFigures({}, Counter())).refusals[str(why)] = int(n)
    return found
