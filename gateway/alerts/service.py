"""Bulk access noticed: the access log scanned for patterns a steward should review.

Invariants:

- Only agency disclosures count: entries whose `decision->>'outcome'` is `disclosed`, `refused`
  or `absent`, or that predate outcomes (no outcome key, and so disclosures). Stewards' oversight
  reads, citizens' reads of their own data and dossier registrations never raise an alert.
- An officer is `access_log.officer`; entries without one are grouped as one actor of their own
  per agency (SQL's GROUP BY puts NULLs together), and the alert names no officer.
- Windows are aligned to their size from Vietnam midnight (a 60-minute window is a clock hour,
  a 1440-minute one a Vietnam calendar day), so every process computes the same window for the
  same instant. A scan judges the current window (up to the instant of the scan) and the
  previous one (so entries written just before a boundary are judged with their whole window).
- An alert is raised once per kind, agency, officer, dossier and window however often and by
  however many processes the log is scanned: `INSERT … ON CONFLICT DO NOTHING` against the
  unique index `uq_access_alerts_once`; a scan returns only the alerts it inserted.
- Every query names the window's `occurred_at` range (the partition key) and the registered
  agencies (every client id `agencies` has held, suspended ones included), so each agency's
  entries in the window are one range of the `(agency, occurred_at)` index: a scan reads the
  windows it judges, never a month's partition or the whole log. The figures are aggregated in
  the database and only the groups over a threshold come back. Only registered agencies are
  judged: the others hold no credentials in production (Keycloak clients are registered with
  their agency), and stewards' and citizens' applications read as oversight or self.
- An alert is a fact to review, never a block: nothing here refuses a request.
- No subject id leaves the database in an alert, a log line or a metric label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import (
    ColumnElement,
    Float,
    Text,
    Time,
    and_,
    any_,
    bindparam,
    cast,
    distinct,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.alerts.models import AccessAlert
from gateway.audit.models import AccessLogEntry
from gateway.audit.service import outcome_column
from gateway.background import Periodic
from gateway.cursors import CursorError, decode_timed_cursor, encode_cursor
from gateway.metrics import GatewayMetrics
from gateway.policy.models import Agency
from lienthong.settings import Settings
from registries.history import VIETNAM_TIME

log = structlog.get_logger(__name__)

# The outcomes of an agency's request (gateway/audit/service.py OUTCOMES minus stewards' oversight
# reads, citizens' own reads and the subjects a dossier names when it is registered: no data
# was disclosed to an agency in those).
DISCLOSURE_OUTCOMES = ("disclosed", "refused", "absent")
REVIEW_STATUSES = ("reviewed", "dismissed")
# Windows start at a Vietnam midnight, so daily windows are Vietnam days (UTC+7 all year).
WINDOW_EPOCH = datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=7)))
# pg_try_advisory_xact_lock key: one scanning process at a time among every replica.
SCAN_LOCK = 7_240_008
SUNDAY = 7  # ISO day of the week
# The dossier key written inline, not bound: the GROUP BY must be the very expression selected,
# and the partial index ix_access_log_dossier is used only for the literal predicate.
DOSSIER = literal_column("'dossier'", Text)
MAX_OFFICERS_NAMED = 20  # officers listed in a dossier alert's measure


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window_of(instant: datetime, minutes: int) -> Window:
    """The aligned window holding `instant`."""
    size = timedelta(minutes=minutes)
    start = WINDOW_EPOCH + ((instant - WINDOW_EPOCH) // size) * size
    return Window(start.astimezone(UTC), (start + size).astimezone(UTC))


def office_hours(setting: str) -> tuple[time, time]:
    """`"07:00-18:00"` as (opening, closing), Vietnam time."""
    opening, closing = setting.split("-")
    return time.fromisoformat(opening), time.fromisoformat(closing)


@dataclass(frozen=True)
class _Scope:
    """One window as a scan judges it: entries from its start up to `until` (the window's end,
    or the instant of the scan within the current window)."""

    window: Window
    until: datetime
    settings: Settings
    agencies: Sequence[str]

    def disclosures(self) -> list[ColumnElement[bool]]:
        outcome = outcome_column()
        registered = bindparam("agencies", list(self.agencies), type_=ARRAY(Text), unique=True)
        return [
            AccessLogEntry.occurred_at >= self.window.start,
            AccessLogEntry.occurred_at < self.until,
            AccessLogEntry.agency == any_(registered),
            or_(outcome.is_(None), outcome.in_(DISCLOSURE_OUTCOMES)),
        ]

    def alert(
        self,
        kind: str,
        *,
        agency: str,
        officer: str | None = None,
        dossier: str | None = None,
        entries: int,
        subjects: int,
        measure: dict[str, Any],
        raised_at: datetime,
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "agency": agency,
            "officer": officer,
            "dossier": dossier,
            "window_start": self.window.start,
            "window_end": self.window.end,
            "entries": entries,
            "subjects": subjects,
            # the figures every alert gives, then its own
            "measure": {
                "entries": entries,
                "subjects": subjects,
                "distinct_share": _share(subjects, entries),
                **measure,
                "window_minutes": self.settings.alert_window_minutes,
                "as_of": self.until.isoformat(),
            },
            "raised_at": raised_at,
        }


def _distinct_subjects() -> ColumnElement[int]:
    return func.count(distinct(tuple_(AccessLogEntry.subject_type, AccessLogEntry.subject_id)))


def _share(subjects: int, entries: int) -> float:
    """The share of distinct subjects among the entries: near 1 when every read is someone new."""
    return round(subjects / entries, 4) if entries else 0.0


async def _officer_volume(
    session: AsyncSession, scope: _Scope, now: datetime
) -> list[dict[str, Any]]:
    settings = scope.settings
    per_officer = (
        select(
            AccessLogEntry.agency,
            AccessLogEntry.officer,
            func.count().label("entries"),
            _distinct_subjects().label("subjects"),
        )
        .where(*scope.disclosures())
        .group_by(AccessLogEntry.agency, AccessLogEntry.officer)
        .cte("per_officer")
    )
    norm = (
        select(
            per_officer.c.agency,
            type_coerce(
                func.percentile_cont(0.5).within_group(per_officer.c.subjects), Float
            ).label("median"),
            func.count().label("officers"),
        )
        .group_by(per_officer.c.agency)
        .cte("norm")
    )
    subjects = per_officer.c.subjects
    query = (
        select(
            per_officer.c.agency,
            per_officer.c.officer,
            per_officer.c.entries,
            subjects,
            norm.c.median,
            norm.c.officers,
        )
        .join_from(per_officer, norm, per_officer.c.agency == norm.c.agency)
        .where(
            or_(
                subjects > settings.alert_officer_subjects,
                and_(
                    subjects >= settings.alert_officer_min_subjects,
                    subjects > norm.c.median * literal(settings.alert_officer_factor, Float),
                ),
            )
        )
    )
    found = []
    for agency, officer, entries, distinct_subjects, median, officers in await session.execute(
        query
    ):
        over_absolute = distinct_subjects > settings.alert_officer_subjects
        found.append(
            scope.alert(
                "officer_volume",
                agency=agency,
                officer=officer,
                entries=entries,
                subjects=distinct_subjects,
                measure={
                    "agency_median": float(median),
                    "agency_officers": officers,
                    "rule": "subjects" if over_absolute else "factor",
                    "threshold": {
                        "subjects": settings.alert_officer_subjects,
                        "factor": settings.alert_officer_factor,
                        "min_subjects": settings.alert_officer_min_subjects,
                        "factor_subjects": round(float(median) * settings.alert_officer_factor, 2),
                    },
                },
                raised_at=now,
            )
        )
    return found


def _off_hours(settings: Settings) -> ColumnElement[bool]:
    """Outside office hours in Vietnam time, or on a Sunday."""
    local = func.timezone(VIETNAM_TIME.key, AccessLogEntry.occurred_at)
    clock = cast(local, Time)
    opening, closing = office_hours(settings.alert_office_hours)
    if opening <= closing:
        outside = or_(clock < opening, clock >= closing)
    else:  # hours that span midnight ("22:00-06:00")
        outside = and_(clock >= closing, clock < opening)
    return or_(extract("isodow", local) == SUNDAY, outside)


async def _off_hours_reads(
    session: AsyncSession, scope: _Scope, now: datetime
) -> list[dict[str, Any]]:
    settings = scope.settings
    subjects = _distinct_subjects()
    query = (
        select(AccessLogEntry.agency, AccessLogEntry.officer, func.count(), subjects)
        .where(*scope.disclosures(), _off_hours(settings))
        .group_by(AccessLogEntry.agency, AccessLogEntry.officer)
        .having(subjects >= settings.alert_off_hours_subjects)
    )
    return [
        scope.alert(
            "off_hours",
            agency=agency,
            officer=officer,
            entries=entries,
            subjects=distinct_subjects,
            measure={
                "office_hours": settings.alert_office_hours,
                "timezone": VIETNAM_TIME.key,
                "threshold": settings.alert_off_hours_subjects,
            },
            raised_at=now,
        )
        for agency, officer, entries, distinct_subjects in await session.execute(query)
    ]


async def _absent_lookups(
    session: AsyncSession, scope: _Scope, now: datetime
) -> list[dict[str, Any]]:
    settings = scope.settings
    absent = outcome_column() == "absent"
    lookups = func.count().filter(absent)
    query = (
        select(
            AccessLogEntry.agency,
            AccessLogEntry.officer,
            func.count(),
            lookups,
            _distinct_subjects().filter(absent),
        )
        .where(*scope.disclosures())
        .group_by(AccessLogEntry.agency, AccessLogEntry.officer)
        .having(lookups >= settings.alert_absent_lookups)
    )
    return [
        scope.alert(
            "absent_lookups",
            agency=agency,
            officer=officer,
            entries=absent_entries,
            subjects=keys,
            measure={
                "all_entries": entries,
                "absent_share": _share(absent_entries, entries),
                "threshold": settings.alert_absent_lookups,
            },
            raised_at=now,
        )
        for agency, officer, entries, absent_entries, keys in await session.execute(query)
    ]


async def _dossier_breadth(
    session: AsyncSession, scope: _Scope, now: datetime
) -> list[dict[str, Any]]:
    settings = scope.settings
    dossier = AccessLogEntry.decision.op("->>")(DOSSIER)
    subjects = _distinct_subjects()
    query = (
        select(
            AccessLogEntry.agency,
            dossier,
            func.count(),
            subjects,
            func.array_agg(distinct(AccessLogEntry.officer)),
        )
        .where(*scope.disclosures(), AccessLogEntry.decision.op("?")(DOSSIER))
        .group_by(AccessLogEntry.agency, dossier)
        .having(subjects > settings.alert_dossier_subjects)
    )
    return [
        scope.alert(
            "dossier_breadth",
            agency=agency,
            dossier=number,
            entries=entries,
            subjects=distinct_subjects,
            measure={
                # who worked the dossier; the alert itself names no officer, so that its key
                # stays the same whoever else touches the dossier later in the window
                "officers": list(officers)[:MAX_OFFICERS_NAMED],
                "threshold": settings.alert_dossier_subjects,
            },
            raised_at=now,
        )
        for agency, number, entries, distinct_subjects, officers in await session.execute(query)
    ]


PATTERNS = (_officer_volume, _off_hours_reads, _absent_lookups, _dossier_breadth)


async def scan(
    *, session: AsyncSession, settings: Settings, now: datetime | None = None
) -> list[AccessAlert]:
    """Judge the current and the previous window; return the alerts this scan raised (none
    that an earlier scan, here or in another process, already raised)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    current = window_of(now, settings.alert_window_minutes)
    previous = Window(current.start - (current.end - current.start), current.start)
    agencies = list((await session.scalars(select(Agency.client_id).distinct())).all())
    if not agencies:
        return []
    candidates: list[dict[str, Any]] = []
    for scope in (
        _Scope(previous, previous.end, settings, agencies),
        _Scope(current, min(current.end, now), settings, agencies),
    ):
        for pattern in PATTERNS:
            candidates.extend(await pattern(session, scope, now))
    if not candidates:
        return []
    statement = (
        insert(AccessAlert)
        .values(candidates)
        .on_conflict_do_nothing(
            index_elements=[
                AccessAlert.kind,
                AccessAlert.agency,
                text("coalesce(officer, '')"),
                text("coalesce(dossier, '')"),
                AccessAlert.window_start,
            ]
        )
        .returning(AccessAlert)
    )
    raised = list((await session.scalars(statement)).all())
    return sorted(
        raised,
        key=lambda a: (a.window_start, a.kind, a.agency, a.officer or "", a.dossier or ""),
    )


def encode_alert_cursor(alert: AccessAlert) -> str:
    return encode_cursor(alert.raised_at.isoformat(), str(alert.alert_id))


async def list_alerts(
    *,
    session: AsyncSession,
    status: str | None = None,
    kind: str | None = None,
    agency: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[AccessAlert], str | None]:
    """Newest first, `limit` at a time; raises CursorError for a cursor not handed out here."""
    query = select(AccessAlert)
    if status is not None:
        query = query.where(AccessAlert.status == status)
    if kind is not None:
        query = query.where(AccessAlert.kind == kind)
    if agency is not None:
        query = query.where(AccessAlert.agency == agency)
    if cursor is not None:
        raised_at, key = decode_timed_cursor(cursor)
        try:
            alert_id = int(key)
        except ValueError as error:
            raise CursorError("invalid cursor") from error
        query = query.where(
            tuple_(AccessAlert.raised_at, AccessAlert.alert_id) < (raised_at, alert_id)
        )
    query = query.order_by(AccessAlert.raised_at.desc(), AccessAlert.alert_id.desc())
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    items = rows[:limit]
    more = len(rows) > limit
    return items, encode_alert_cursor(items[-1]) if more else None


async def get_alert(*, session: AsyncSession, alert_id: int) -> AccessAlert | None:
    return await session.get(AccessAlert, alert_id)


class AlertNotFound(LookupError):  # noqa: N818 - the steward API answers it as NOT_FOUND
    """No alert has that id."""


class AlertClosed(ValueError):  # noqa: N818 - the steward API answers it as CONFLICT
    """The alert was already reviewed or dismissed: a review is recorded once, by its steward."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the alert is already {status}")
        self.status = status


async def review(
    *, session: AsyncSession, alert_id: int, status: str, note: str, actor: str
) -> AccessAlert:
    """Close an open alert as reviewed or dismissed, with the steward's note."""
    if status not in REVIEW_STATUSES:
        raise ValueError(f"status must be one of {REVIEW_STATUSES}")
    # one conditional UPDATE: of two stewards closing the same alert at once, one wins
    closed = (
        await session.scalars(
            update(AccessAlert)
            .where(AccessAlert.alert_id == alert_id, AccessAlert.status == "open")
            .values(status=status, note=note, reviewed_by=actor, reviewed_at=func.now())
            .returning(AccessAlert),
            # the alert may already be in this session's identity map: take the new row
            execution_options={"synchronize_session": False, "populate_existing": True},
        )
    ).one_or_none()
    if closed is not None:
        return closed
    existing = await get_alert(session=session, alert_id=alert_id)
    if existing is None:
        raise AlertNotFound(alert_id)
    raise AlertClosed(existing.status)


async def open_counts(*, session: AsyncSession) -> dict[tuple[str, str], int]:
    """Open alerts per (kind, agency): what the `lienthong_access_alerts_open` gauge shows."""
    rows = await session.execute(
        select(AccessAlert.kind, AccessAlert.agency, func.count())
        .where(AccessAlert.status == "open")
        .group_by(AccessAlert.kind, AccessAlert.agency)
    )
    return {(kind, agency): int(n) for kind, agency, n in rows}


def count_raised(metrics: GatewayMetrics, raised: Sequence[AccessAlert]) -> None:
    """Count newly raised alerts (only the process whose insert won counts one) and log them:
    kind, agency and officer, never a subject."""
    for alert in raised:
        metrics.access_alerts_raised.labels(alert.kind, alert.agency).inc()
        log.info(
            "access alert raised",
            alert_id=alert.alert_id,
            kind=alert.kind,
            agency=alert.agency,
            officer=alert.officer,
            subjects=alert.subjects,
        )


async def refresh_gauges(
    *, sessions: async_sessionmaker[AsyncSession], metrics: GatewayMetrics
) -> None:
    """The open-alert gauges from the table. Never raises: on failure the gauges keep their
    last values until the next refresh (a review already committed must not answer 500)."""
    try:
        async with sessions() as session:
            counts = await open_counts(session=session)
    except Exception as error:  # the message could quote parameters: its type only
        log.error("access alert gauges not refreshed", error=type(error).__name__)
        return
    metrics.set_open_alerts(counts)


class AlertScanner(Periodic):
    """The gateway's background scan: every `alert_scan_seconds` one process among all replicas
    (whichever takes the advisory lock) scans, and every process refreshes its gauges from the
    table. A failed tick is logged and retried at the next; it never stops the gateway."""

    name = "access-alert-scanner"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        metrics: GatewayMetrics,
    ) -> None:
        # 0: scans only on demand (POST /admin/alerts/scan)
        super().__init__(settings.alert_scan_seconds)
        self._sessions = sessions
        self._settings = settings
        self._metrics = metrics

    async def begin(self) -> None:
        # The gauges first, so a restarted process shows the open alerts before its first scan.
        await self.refresh()

    async def tick(self) -> list[AccessAlert]:
        """One scan if this process gets the lock, then the gauges; the alerts it raised."""
        raised: list[AccessAlert] = []
        try:
            async with self._sessions.begin() as session:
                # Held until this transaction ends: the other replicas skip this tick.
                locked = await session.scalar(select(func.pg_try_advisory_xact_lock(SCAN_LOCK)))
                if locked:
                    raised = await scan(session=session, settings=self._settings)
        except Exception as error:  # retried next tick; the message could quote parameters
            log.error("access alert scan failed", error=type(error).__name__)
            raised = []
        count_raised(self._metrics, raised)
        await self.refresh()
        return raised

    async def refresh(self) -> None:
        await refresh_gauges(sessions=self._sessions, metrics=self._metrics)
