"""Bulk-access alerts against the real database: each pattern raises exactly over its threshold
and not at or under it, once per window, from agency disclosures only.

Entries are inserted as the database owner, with chosen instants, inside the test's rolled-back
transaction (a rollback is not a DELETE: the append-only log lets it be); the background scanner
is tested against a database of this module's own, with entries written by the real writer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.alerts import service
from gateway.alerts.models import AccessAlert
from gateway.alerts.service import AlertClosed, AlertNotFound, AlertScanner, scan, window_of
from gateway.audit.models import AccessLogEntry
from gateway.audit.writer import AccessLogWriter, Disclosure
from gateway.cursors import CursorError
from gateway.metrics import GatewayMetrics
from gateway.policy.models import Agency
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.history import supersede

AGENCY = "motcua-danang"
# Monday 2 March 2026: 10:00 in Vietnam is 03:00 UTC, 23:30 in Vietnam is 16:30 UTC.
MONDAY_OFFICE = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
MONDAY_NIGHT = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
SUNDAY_OFFICE = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)  # 10:00 on a Sunday in Vietnam
_serial = itertools.count(1)
QUIET: dict[str, Any] = {  # every threshold out of reach: a test lowers the one it exercises
    "alert_window_minutes": 60,
    "alert_officer_subjects": 10_000,
    "alert_officer_factor": 1000.0,
    "alert_officer_min_subjects": 10_000,
    "alert_off_hours_subjects": 10_000,
    "alert_absent_lookups": 10_000,
    "alert_dossier_subjects": 10_000,
}


async def _register(session: AsyncSession, *agencies: str) -> None:
    for agency in agencies:
        await supersede(
            session=session,
            model=Agency,
            key={"client_id": agency},
            values={"name": agency, "kind": "test", "status": "active"},
        )


@pytest.fixture
async def session(session: AsyncSession) -> AsyncSession:
    """The rolled-back session, with the agencies a scan judges (the registered ones)."""
    await _register(session, AGENCY, "thue-hcm")
    return session


def _settings(settings: Settings, **thresholds: Any) -> Settings:
    return settings.model_copy(update={**QUIET, **thresholds})


def _subjects(n: int, prefix: str = "0480850") -> list[str]:
    return [f"{prefix}{next(_serial):05d}" for _ in range(n)]


async def _log(
    session: AsyncSession,
    *,
    at: datetime,
    subjects: list[str],
    officer: str | None = "can-bo-01",
    agency: str = AGENCY,
    outcome: str | None = "disclosed",
    dossier: str | None = None,
) -> None:
    """One entry per subject at `at` (a few microseconds apart), as the writer would record it."""
    decision: dict[str, Any] = {} if outcome is None else {"outcome": outcome}
    if dossier is not None:
        decision["dossier"] = dossier
    rows = [
        {
            "occurred_at": at + timedelta(microseconds=n),
            "chain_key": "test",
            "seq": next(_serial),
            "request_id": f"req-{next(_serial)}",
            "agency": agency,
            "officer": officer,
            "purpose": "CT01",
            "subject_type": "resident",
            "subject_id": subject,
            "fields_given": ["fullName"],
            "fields_masked": [],
            "fields_denied": [],
            "decision": decision,
            "prev_hash": b"",
            "hash": b"",
        }
        for n, subject in enumerate(subjects)
    ]
    await session.execute(insert(AccessLogEntry), rows)


def _raised(alerts: list[AccessAlert]) -> list[tuple[str, str, str | None, int]]:
    return [(a.kind, a.agency, a.officer, a.subjects) for a in alerts]


# --- windows


def test_windows_are_aligned_to_their_size_from_vietnam_midnight() -> None:
    hour = window_of(datetime(2026, 3, 2, 3, 25, 7, tzinfo=UTC), 60)
    assert (hour.start, hour.end) == (MONDAY_OFFICE, MONDAY_OFFICE + timedelta(hours=1))
    day = window_of(MONDAY_NIGHT, 1440)  # 23:30 on Monday in Vietnam: Monday, Vietnam time
    assert day.start == datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    assert day.end == datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    assert window_of(day.end, 1440).start == day.end  # a window holds its start, not its end


# --- officer_volume


async def test_officer_volume_over_the_absolute_threshold(
    session: AsyncSession, settings: Settings
) -> None:
    thresholds = _settings(settings, alert_officer_subjects=5)
    over = _subjects(6)
    await _log(session, at=MONDAY_OFFICE, subjects=[*over, over[0], over[1]], officer="can-bo-01")
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(5), officer="can-bo-02")  # at it
    alerts = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=30)
    )
    assert _raised(alerts) == [("officer_volume", AGENCY, "can-bo-01", 6)]
    alert = alerts[0]
    assert (alert.window_start, alert.window_end) == (
        MONDAY_OFFICE,
        MONDAY_OFFICE + timedelta(hours=1),
    )
    assert alert.entries == 8
    assert alert.status == "open"
    assert alert.measure["distinct_share"] == 0.75
    assert alert.measure["rule"] == "subjects"
    assert alert.measure["agency_median"] == 5.5
    assert alert.measure["threshold"]["subjects"] == 5


async def test_officer_volume_over_the_agencys_norm(
    session: AsyncSession, settings: Settings
) -> None:
    thresholds = _settings(settings, alert_officer_factor=3.0, alert_officer_min_subjects=6)
    for officer in ("cb-1", "cb-2", "cb-3", "cb-4"):
        await _log(session, at=MONDAY_OFFICE, subjects=_subjects(2), officer=officer)
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(6), officer="cb-at-3x")  # = 3 × 2
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(7), officer="cb-over")
    # another agency: 5 is over 3 × its median of 1, but under the minimum of 6
    for officer in ("x-1", "x-2", "x-3"):
        await _log(
            session, at=MONDAY_OFFICE, subjects=_subjects(1), officer=officer, agency="thue-hcm"
        )
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(5), officer="x-few", agency="thue-hcm")
    alerts = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=5)
    )
    assert _raised(alerts) == [("officer_volume", AGENCY, "cb-over", 7)]
    measure = alerts[0].measure
    assert measure["rule"] == "factor"
    assert measure["agency_median"] == 2.0
    assert measure["agency_officers"] == 6
    assert measure["threshold"]["factor_subjects"] == 6.0


async def test_entries_without_an_officer_are_one_actor(
    session: AsyncSession, settings: Settings
) -> None:
    thresholds = _settings(settings, alert_officer_subjects=3)
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(2), officer=None)
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(2), officer=None)
    alerts = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=5)
    )
    assert _raised(alerts) == [("officer_volume", AGENCY, None, 4)]


# --- off_hours


async def test_off_hours_counts_in_vietnam_time(session: AsyncSession, settings: Settings) -> None:
    thresholds = _settings(settings, alert_off_hours_subjects=3, alert_office_hours="07:00-18:00")
    await _log(session, at=MONDAY_NIGHT, subjects=_subjects(3), officer="cb-night")
    await _log(session, at=MONDAY_NIGHT, subjects=_subjects(2), officer="cb-night-few")
    alerts = await scan(
        session=session, settings=thresholds, now=MONDAY_NIGHT + timedelta(minutes=10)
    )
    assert _raised(alerts) == [("off_hours", AGENCY, "cb-night", 3)]
    assert alerts[0].measure["timezone"] == "Asia/Ho_Chi_Minh"

    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(5), officer="cb-day")
    day = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=10)
    )
    assert day == []


async def test_sunday_is_outside_office_hours(session: AsyncSession, settings: Settings) -> None:
    thresholds = _settings(settings, alert_off_hours_subjects=3)
    await _log(session, at=SUNDAY_OFFICE, subjects=_subjects(3), officer="cb-sunday")
    alerts = await scan(
        session=session, settings=thresholds, now=SUNDAY_OFFICE + timedelta(minutes=1)
    )
    assert _raised(alerts) == [("off_hours", AGENCY, "cb-sunday", 3)]


# --- absent_lookups


async def test_absent_lookups_at_the_threshold(session: AsyncSession, settings: Settings) -> None:
    thresholds = _settings(settings, alert_absent_lookups=4)
    await _log(
        session, at=MONDAY_OFFICE, subjects=_subjects(4), officer="cb-probe", outcome="absent"
    )
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(4), officer="cb-probe")
    await _log(
        session, at=MONDAY_OFFICE, subjects=_subjects(3), officer="cb-typo", outcome="absent"
    )
    alerts = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=5)
    )
    assert _raised(alerts) == [("absent_lookups", AGENCY, "cb-probe", 4)]
    assert alerts[0].entries == 4
    assert alerts[0].measure["all_entries"] == 8
    assert alerts[0].measure["absent_share"] == 0.5


# --- dossier_breadth


async def test_dossier_breadth_over_the_threshold(
    session: AsyncSession, settings: Settings
) -> None:
    thresholds = _settings(settings, alert_dossier_subjects=3)
    wide = _subjects(4)
    await _log(session, at=MONDAY_OFFICE, subjects=wide[:2], officer="cb-1", dossier="HS-0001")
    await _log(session, at=MONDAY_OFFICE, subjects=wide[1:], officer="cb-2", dossier="HS-0001")
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(3), officer="cb-1", dossier="HS-0002")
    alerts = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=5)
    )
    assert [(a.kind, a.dossier, a.officer, a.subjects, a.entries) for a in alerts] == [
        ("dossier_breadth", "HS-0001", None, 4, 5)
    ]
    assert sorted(alerts[0].measure["officers"]) == ["cb-1", "cb-2"]


# --- what counts, and only once


async def test_scanning_again_raises_nothing_new(session: AsyncSession, settings: Settings) -> None:
    thresholds = _settings(settings, alert_officer_subjects=2)
    await _log(session, at=MONDAY_OFFICE, subjects=_subjects(3))
    now = MONDAY_OFFICE + timedelta(minutes=5)
    assert len(await scan(session=session, settings=thresholds, now=now)) == 1
    await _log(session, at=MONDAY_OFFICE + timedelta(minutes=1), subjects=_subjects(3))
    assert await scan(session=session, settings=thresholds, now=now + timedelta(minutes=10)) == []
    stored = await session.scalar(select(func.count()).select_from(AccessAlert))
    assert stored == 1


async def test_the_previous_window_is_judged_too(session: AsyncSession, settings: Settings) -> None:
    thresholds = _settings(settings, alert_officer_subjects=2)
    await _log(session, at=MONDAY_OFFICE - timedelta(minutes=2), subjects=_subjects(3))
    alerts = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=1)
    )
    assert [a.window_start for a in alerts] == [MONDAY_OFFICE - timedelta(hours=1)]
    # two windows on, the entries are nobody's business any more: nothing raised, nothing read
    later = MONDAY_OFFICE + timedelta(hours=1, minutes=1)
    assert await scan(session=session, settings=thresholds, now=later) == []


async def test_entries_after_the_instant_of_the_scan_wait_for_a_later_scan(
    session: AsyncSession, settings: Settings
) -> None:
    thresholds = _settings(settings, alert_officer_subjects=2)
    await _log(session, at=MONDAY_OFFICE + timedelta(minutes=20), subjects=_subjects(3))
    early = MONDAY_OFFICE + timedelta(minutes=10)
    assert await scan(session=session, settings=thresholds, now=early) == []
    assert (
        len(await scan(session=session, settings=thresholds, now=early + timedelta(minutes=20)))
        == 1
    )


async def test_steward_and_citizen_reads_do_not_count(
    session: AsyncSession, settings: Settings
) -> None:
    thresholds = _settings(
        settings,
        alert_officer_subjects=2,
        alert_off_hours_subjects=2,
        alert_absent_lookups=2,
        alert_dossier_subjects=2,
    )
    # under a registered agency, so that only their outcome keeps them out
    for outcome in ("oversight", "self", "dossier"):
        await _log(
            session, at=MONDAY_NIGHT, subjects=_subjects(5), officer="steward-lan",
            outcome=outcome, dossier="HS-0009",
        )  # fmt: skip
    # a client id no agency was ever registered with holds no credentials in production
    await _log(session, at=MONDAY_NIGHT, subjects=_subjects(5), agency="not-registered")
    now = MONDAY_NIGHT + timedelta(minutes=5)
    assert await scan(session=session, settings=thresholds, now=now) == []
    # entries from before outcomes existed are disclosures
    await _log(session, at=MONDAY_NIGHT, subjects=_subjects(3), officer="cb-old", outcome=None)
    assert sorted(_raised(await scan(session=session, settings=thresholds, now=now))) == [
        ("off_hours", AGENCY, "cb-old", 3),
        ("officer_volume", AGENCY, "cb-old", 3),
    ]


# --- listing and review


async def test_list_page_filter_and_review(session: AsyncSession, settings: Settings) -> None:
    thresholds = _settings(settings, alert_officer_subjects=1, alert_absent_lookups=2)
    for officer in ("cb-a", "cb-b", "cb-c"):
        await _log(
            session, at=MONDAY_OFFICE, subjects=_subjects(2), officer=officer, outcome="absent"
        )
    raised = await scan(
        session=session, settings=thresholds, now=MONDAY_OFFICE + timedelta(minutes=1)
    )
    assert len(raised) == 6

    seen: list[int] = []
    cursor = None
    while True:
        page, cursor = await service.list_alerts(
            session=session, status="open", limit=4, cursor=cursor
        )
        seen += [a.alert_id for a in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(a.alert_id for a in raised)
    assert seen == sorted(seen, reverse=True)  # newest first (one scan: one instant)
    absent, _ = await service.list_alerts(session=session, kind="absent_lookups", agency=AGENCY)
    assert {a.officer for a in absent} == {"cb-a", "cb-b", "cb-c"}
    with pytest.raises(CursorError):
        await service.list_alerts(session=session, cursor="bm90IGEgY3Vyc29y")

    target = absent[0].alert_id
    done = await service.review(
        session=session, alert_id=target, status="dismissed", note="Đợt rà soát hồ sơ", actor="lan"
    )
    assert (done.status, done.reviewed_by, done.note) == ("dismissed", "lan", "Đợt rà soát hồ sơ")
    assert done.reviewed_at is not None
    with pytest.raises(AlertClosed, match="already dismissed"):
        await service.review(
            session=session, alert_id=target, status="reviewed", note="x", actor="minh"
        )
    with pytest.raises(AlertNotFound):
        await service.review(
            session=session, alert_id=10**12, status="reviewed", note="x", actor="lan"
        )
    counts = await service.open_counts(session=session)
    assert counts == {("officer_volume", AGENCY): 3, ("absent_lookups", AGENCY): 2}


def test_the_open_gauge_drops_to_zero_when_all_are_reviewed() -> None:
    metrics = GatewayMetrics()
    metrics.set_open_alerts({("off_hours", AGENCY): 2})
    metrics.set_open_alerts({})
    value = metrics.registry.get_sample_value(
        "lienthong_access_alerts_open", {"kind": "off_hours", "agency": AGENCY}
    )
    assert value == 0


# --- the background scanner (its own committed database)


@pytest.fixture(scope="module")
def scanner_settings(committed_database_url: str) -> Settings:
    return _settings(
        Settings(database_url=committed_database_url),
        alert_window_minutes=1440,
        alert_officer_subjects=3,
    )


@pytest.fixture
async def sessions(scanner_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(scanner_settings, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


async def _write(settings: Settings, officer: str, subjects: list[str]) -> None:
    """Disclosures through the real writer (one batch: one instant, so one window)."""
    writer = AccessLogWriter(settings.libpq_url)
    await writer.start()
    try:
        await writer.record(
            [
                Disclosure(
                    request_id=f"req-{n}",
                    agency=AGENCY,
                    subject_type="resident",
                    subject_id=subject,
                    officer=officer,
                    purpose="CT01",
                    fields_given=["fullName"],
                    decision={"outcome": "disclosed"},
                )
                for n, subject in enumerate(subjects)
            ]
        )
    finally:
        await writer.stop()


async def test_the_scanner_raises_once_counts_and_gauges(
    scanner_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as session:
        await _register(session, AGENCY)
    metrics = GatewayMetrics()
    scanner = AlertScanner(sessions, scanner_settings, metrics)
    await _write(scanner_settings, "cb-scanned", _subjects(4))
    raised = await scanner.tick()
    assert _raised(raised) == [("officer_volume", AGENCY, "cb-scanned", 4)]
    assert await scanner.tick() == []
    labels = {"kind": "officer_volume", "agency": AGENCY}
    assert metrics.registry.get_sample_value("lienthong_access_alerts_raised_total", labels) == 1
    assert metrics.registry.get_sample_value("lienthong_access_alerts_open", labels) == 1

    # another process holds the lock: this one skips the scan but still refreshes its gauges
    await _write(scanner_settings, "cb-later", _subjects(4))
    with psycopg.connect(scanner_settings.libpq_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (service.SCAN_LOCK,))
        assert await scanner.tick() == []
    assert _raised(await scanner.tick()) == [("officer_volume", AGENCY, "cb-later", 4)]
    assert metrics.registry.get_sample_value("lienthong_access_alerts_open", labels) == 2


async def test_a_failing_scan_is_logged_and_the_task_goes_on(scanner_settings: Settings) -> None:
    dead = scanner_settings.model_copy(
        update={
            "database_url": "postgresql://nobody@127.0.0.1:1/nowhere",
            "alert_scan_seconds": 0.01,
        }
    )
    engine = create_engine(dead, pool_size=1)
    scanner = AlertScanner(session_factory(engine), dead, GatewayMetrics())
    try:
        assert await scanner.tick() == []
        scanner.start()
        await asyncio.sleep(0.1)
        assert scanner._task is not None
        assert not scanner._task.done()  # failed ticks, still running
        await scanner.stop()
        assert scanner._task is None
    finally:
        await engine.dispose()
