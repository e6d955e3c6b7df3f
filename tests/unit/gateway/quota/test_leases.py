"""Rate and quota leases against the real database: buckets on the database clock, slices, single
flight, forfeits, pruning, daily quotas with deficits, and failing closed."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.quota.leases import (
    LimitsUnavailable,
    QuotaLeases,
    QuotaScope,
    RateLeases,
    ScopeUsage,
    agency_key,
    citizen_key,
    retry_after_seconds,
    seconds_until_reset,
)
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.history import VIETNAM_TIME
from tests.net import free_port

DAY = date(2026, 3, 2)


class FakeClock:
    """The processes' clock: only the age of a local slice and of a refusal depend on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeDay:
    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement the leases send to the shared limit tables, as the driver sends it (the
    tests' own reads and writes are marked and left out)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        mine = statement.startswith(TEST_MARK)
        if not mine and ("rate_buckets" in statement or "quota_usage" in statement):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)


TEST_MARK = "/* test */"  # the tests' own statements start with it


def _key() -> str:
    return agency_key(f"test-{uuid.uuid4().hex[:10]}")


async def _bucket(engine: AsyncEngine, key: str) -> float | None:
    async with engine.connect() as connection:
        tokens = await connection.scalar(
            text("/* test */ SELECT tokens FROM rate_buckets WHERE key = :key"), {"key": key}
        )
    return None if tokens is None else float(tokens)


async def _backdate(engine: AsyncEngine, key: str, seconds: float) -> None:
    """As if the database clock had moved on by `seconds` since the bucket's last lease."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "/* test */ UPDATE rate_buckets "
                "SET updated_at = updated_at - make_interval(secs => :s) WHERE key = :key"
            ),
            {"s": seconds, "key": key},
        )


# --- rates ---------------------------------------------------------------------------------------


async def test_burst_then_refusal_with_a_positive_wait(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock()
    leases = RateLeases(sessions, slice_seconds=0.1, clock=clock)
    key = _key()
    assert [await leases.acquire(key, rate=2, burst=3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await leases.acquire(key, rate=2, burst=3)
    assert 0 < wait <= 0.5  # one token at 2/s, less what the database clock has refilled
    assert retry_after_seconds(wait) == 1
    # the refusal holds locally (no statement) and still answers a positive wait
    again = await leases.acquire(key, rate=2, burst=3)
    assert 0 < again <= 0.5


async def test_refill_follows_the_database_clock_up_to_the_burst(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    leases = RateLeases(sessions, slice_seconds=0.1, clock=clock)
    key = _key()
    assert [await leases.acquire(key, rate=1, burst=3) for _ in range(3)] == [0.0] * 3
    assert await leases.acquire(key, rate=1, burst=3) > 0
    await _backdate(engine, key, 2.0)  # two seconds at 1/s: two tokens
    clock.now += 1.0  # past the local refusal
    admitted = [await leases.acquire(key, rate=1, burst=3) for _ in range(3)]
    assert admitted[:2] == [0.0, 0.0]
    assert admitted[2] > 0
    await _backdate(engine, key, 3600.0)  # an hour: full, never more than the burst
    clock.now += 1.0
    admitted = [await leases.acquire(key, rate=1, burst=3) for _ in range(4)]
    assert admitted[:3] == [0.0] * 3
    assert admitted[3] > 0


async def test_a_slice_serves_many_requests_with_one_statement(
    sessions: async_sessionmaker[AsyncSession], statements: list[str]
) -> None:
    leases = RateLeases(sessions, slice_seconds=0.1, clock=FakeClock())
    assert leases.slice_size(100) == 10
    assert leases.slice_size(2) == 1  # at least one request's worth
    key = _key()
    for _ in range(100):
        assert await leases.acquire(key, rate=100, burst=1000) == 0.0
    assert len(statements) == 10


async def test_concurrent_requests_share_one_lease(
    sessions: async_sessionmaker[AsyncSession], statements: list[str]
) -> None:
    leases = RateLeases(sessions, slice_seconds=0.1, clock=FakeClock())
    key = _key()
    waits = await asyncio.gather(*(leases.acquire(key, rate=100, burst=1000) for _ in range(95)))
    assert waits == [0.0] * 95
    assert len(statements) == 10  # single flight: 95 requests, slices of 10


async def test_concurrent_refused_requests_ask_the_database_once(
    sessions: async_sessionmaker[AsyncSession], statements: list[str]
) -> None:
    leases = RateLeases(sessions, slice_seconds=0.1, clock=FakeClock())
    key = _key()
    waits = await asyncio.gather(*(leases.acquire(key, rate=1, burst=2) for _ in range(40)))
    assert waits.count(0.0) == 2
    assert all(wait > 0 for wait in waits if wait)
    assert len(statements) == 3  # two single-token leases, one refusal shared by 38 requests


async def test_a_stale_slice_is_not_spent_but_given_back(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], statements: list[str]
) -> None:
    clock = FakeClock()
    leases = RateLeases(sessions, slice_seconds=0.1, clock=clock)
    assert leases.forfeit_seconds == 1.0
    key = _key()
    assert await leases.acquire(key, rate=100, burst=100) == 0.0
    assert (await _bucket(engine, key)) == pytest.approx(90)  # a slice of 10 left the bucket
    clock.now += 0.5
    assert await leases.acquire(key, rate=100, burst=100) == 0.0
    assert len(statements) == 1  # half a second old: still this process's to spend
    clock.now += 1.0
    assert await leases.acquire(key, rate=100, burst=100) == 0.0
    assert len(statements) == 2  # older than the forfeit period: a new lease
    # 8 given back with the new lease, 10 taken (the database clock refilled a little meanwhile,
    # up to the burst): without the return the bucket would be down to 80
    tokens = await _bucket(engine, key)
    assert tokens is not None
    assert 88 <= tokens <= 90
    for _ in range(9):
        assert await leases.acquire(key, rate=100, burst=100) == 0.0
    assert len(statements) == 2


async def test_processes_share_one_bucket(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Two instances stand for two processes: together they get the burst, not twice it."""
    one = RateLeases(sessions, slice_seconds=0.1, clock=FakeClock())
    two = RateLeases(sessions, slice_seconds=0.1, clock=FakeClock())
    key = _key()
    admitted = 0
    for _ in range(30):
        for leases in (one, two):
            admitted += await leases.acquire(key, rate=4, burst=20) == 0.0
    # 20 in the bucket, leased 1 at a time (4/s for 0.1 s); the database clock refills 4/s
    assert 20 <= admitted < 30


async def test_citizens_and_agencies_have_their_own_buckets(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    leases = RateLeases(sessions, slice_seconds=0.1, clock=FakeClock())
    first = f"0{uuid.uuid4().int % 10**11:011d}"
    second = f"1{uuid.uuid4().int % 10**11:011d}"
    assert citizen_key(first) == f"citizen:{first}"
    for _ in range(2):
        assert await leases.acquire(citizen_key(first), rate=0.01, burst=2) == 0.0
    assert await leases.acquire(citizen_key(first), rate=0.01, burst=2) > 0
    assert await leases.acquire(citizen_key(second), rate=0.01, burst=2) == 0.0
    assert await leases.acquire(agency_key(first), rate=0.01, burst=2) == 0.0
    for wrong in ("12345", "04808500012a", "0480850001234", f"{first}\n"):
        with pytest.raises(ValueError, match="12-digit"):
            citizen_key(wrong)
    with pytest.raises(ValueError, match="client id"):
        agency_key("")


async def test_prune_deletes_only_buckets_idle_long_enough(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    leases = RateLeases(sessions, slice_seconds=0.1)
    idle, busy = (citizen_key(f"09{uuid.uuid4().int % 10**10:010d}") for _ in range(2))
    for key in (idle, busy):
        assert await leases.acquire(key, rate=2, burst=20) == 0.0
    await _backdate(engine, idle, 30 * 86400.0)
    assert await leases.prune(idle_seconds=20 * 86400.0) == 1
    assert await _bucket(engine, idle) is None
    assert await _bucket(engine, busy) is not None
    # a pruned bucket starts full again
    fresh = RateLeases(sessions, slice_seconds=0.1)
    assert await fresh.acquire(idle, rate=2, burst=20) == 0.0
    assert await _bucket(engine, idle) == pytest.approx(19)


async def test_local_state_stays_bounded(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FakeClock()
    leases = RateLeases(sessions, slice_seconds=0.1, clock=clock, max_keys=4)
    for _ in range(10):
        assert await leases.acquire(_key(), rate=100, burst=100) == 0.0
        clock.now += 2.0  # every slice stale by the next key
    assert len(leases._slices) <= 4
    quotas = QuotaLeases(sessions, slice_size=5, clock_today=FakeDay(DAY), max_keys=4)
    owing = _scope()
    assert await quotas.allow(owing, quota=100)
    quotas.spend(owing, 9)  # a deficit of 4, which must survive any eviction
    for _ in range(10):
        assert await quotas.allow(_scope(), quota=100)
    assert len(quotas._allowances) <= 4
    assert quotas.local_allowance(owing) == -4


async def test_invalid_limits_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    leases = RateLeases(sessions, slice_seconds=0.1)
    with pytest.raises(ValueError, match="rate"):
        await leases.acquire(_key(), rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        await leases.acquire(_key(), rate=1, burst=0)
    with pytest.raises(ValueError, match="slice_seconds"):
        RateLeases(sessions, slice_seconds=0)
    with pytest.raises(ValueError, match="slice_size"):
        QuotaLeases(sessions, slice_size=0)


# --- the database unreachable ----------------------------------------------------------------


@pytest.fixture
async def closed_port_sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a port nothing listens on."""
    port = free_port()
    engine = create_engine(
        Settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/lienthong"), pool_size=1
    )
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def silent_server_sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    engine = create_engine(
        Settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/lienthong"), pool_size=1
    )
    yield session_factory(engine)
    await engine.dispose()
    listener.close()


async def test_limits_fail_closed_when_the_database_is_down(
    closed_port_sessions: async_sessionmaker[AsyncSession],
) -> None:
    rates = RateLeases(closed_port_sessions, slice_seconds=0.1)
    with pytest.raises(LimitsUnavailable):
        await rates.acquire(_key(), rate=100, burst=100)
    # requests waiting behind the failed lease fail with it instead of trying one by one
    results = await asyncio.gather(
        *(rates.acquire("agency:down", rate=100, burst=100) for _ in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(result, LimitsUnavailable) for result in results)
    with pytest.raises(LimitsUnavailable):
        await rates.prune(idle_seconds=60)
    quotas = QuotaLeases(closed_port_sessions, slice_size=5)
    with pytest.raises(LimitsUnavailable):
        await quotas.allow(QuotaScope("thue-hcm", "TAX", "resident"), quota=100)
    with pytest.raises(LimitsUnavailable):
        await quotas.usage(agency=None, day=date(2026, 1, 1))


async def test_a_database_that_does_not_answer_is_unavailable_in_time(
    silent_server_sessions: async_sessionmaker[AsyncSession],
) -> None:
    rates = RateLeases(silent_server_sessions, slice_seconds=0.1, timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LimitsUnavailable):
        await rates.acquire(_key(), rate=100, burst=100)
    assert loop.time() - started < 1.5
    # ten requests waiting for one lease that times out fail with it: one timeout, not ten
    started = loop.time()
    results = await asyncio.gather(
        *(rates.acquire("agency:silent", rate=100, burst=100) for _ in range(10)),
        return_exceptions=True,
    )
    assert all(isinstance(result, LimitsUnavailable) for result in results)
    assert loop.time() - started < 1.5
    quotas = QuotaLeases(silent_server_sessions, slice_size=5, timeout=0.3)
    started = loop.time()
    scope = QuotaScope("thue-hcm", "TAX", "resident")
    results = await asyncio.gather(
        *(quotas.allow(scope, quota=100) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(result, LimitsUnavailable) for result in results)
    assert loop.time() - started < 1.5


# --- daily quotas --------------------------------------------------------------------------------


def _scope(subject_type: str = "resident") -> QuotaScope:
    return QuotaScope(f"test-{uuid.uuid4().hex[:10]}", "CT01", subject_type)


def _scope_params(scope: QuotaScope, day: date) -> dict[str, object]:
    return {
        "agency": scope.agency, "purpose": scope.purpose, "subject_type": scope.subject_type,
        "day": day,
    }  # fmt: skip


async def _usage(engine: AsyncEngine, scope: QuotaScope, day: date) -> tuple[int, int] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "/* test */ SELECT granted, disclosed FROM quota_usage "
                    "WHERE agency = :agency AND purpose = :purpose "
                    "AND subject_type = :subject_type AND day = :day"
                ),
                _scope_params(scope, day),
            )
        ).first()
    return None if row is None else (int(row.granted), int(row.disclosed))


async def _disclose(engine: AsyncEngine, scope: QuotaScope, day: date, count: int) -> None:
    """What the access log's group commit does for disclosed subjects."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "/* test */ INSERT INTO quota_usage "
                "(agency, purpose, subject_type, day, disclosed) "
                "VALUES (:agency, :purpose, :subject_type, :day, :count) "
                "ON CONFLICT (agency, purpose, subject_type, day) "
                "DO UPDATE SET disclosed = quota_usage.disclosed + :count"
            ),
            {**_scope_params(scope, day), "count": count},
        )


async def test_quota_is_leased_in_slices_and_spent_locally(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], statements: list[str]
) -> None:
    quotas = QuotaLeases(sessions, slice_size=5, clock_today=FakeDay(DAY))
    scope = _scope()
    admitted = 0
    while await quotas.allow(scope, quota=12):
        quotas.spend(scope, 1)
        admitted += 1
    assert admitted == 12
    assert await _usage(engine, scope, DAY) == (12, 0)
    assert len(statements) == 4  # 5 + 5 + 2, then one lease that found nothing left
    # refused without asking again: granted and disclosed only grow within a day
    assert not await quotas.allow(scope, quota=12)
    assert len(statements) == 4
    # a larger quota (a steward's amendment) is asked for at once
    assert await quotas.allow(scope, quota=14)
    assert quotas.local_allowance(scope) == 2
    assert await _usage(engine, scope, DAY) == (14, 0)


async def test_a_deficit_is_paid_first_and_refused_when_nothing_is_left(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    quotas = QuotaLeases(sessions, slice_size=5, clock_today=FakeDay(DAY))
    scope = _scope()
    assert await quotas.allow(scope, quota=20)  # 5 leased
    quotas.spend(scope, 8)  # the request disclosed eight
    assert quotas.local_allowance(scope) == -3
    assert await quotas.allow(scope, quota=20)  # leases 5 + 3
    assert quotas.local_allowance(scope) == 5
    assert await _usage(engine, scope, DAY) == (13, 0)
    quotas.spend(scope, 10)
    assert await quotas.allow(scope, quota=20)  # wants 5 + 5, 7 left: the deficit, then 2
    assert quotas.local_allowance(scope) == 2
    quotas.spend(scope, 6)
    assert not await quotas.allow(scope, quota=20)  # nothing left to pay a deficit of 4
    assert quotas.local_allowance(scope) == -4
    assert await _usage(engine, scope, DAY) == (20, 0)
    # disclosed 24 = quota + the deficit no lease could pay: the documented bound


async def test_disclosures_counted_by_the_access_log_limit_the_lease(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    quotas = QuotaLeases(sessions, slice_size=5, clock_today=FakeDay(DAY))
    scope = _scope("household")
    await _disclose(engine, scope, DAY, 18)  # e.g. disclosed by processes with unpaid deficits
    assert await quotas.allow(scope, quota=20)
    assert quotas.local_allowance(scope) == 2
    assert await _usage(engine, scope, DAY) == (2, 18)
    quotas.spend(scope, 2)
    await _disclose(engine, scope, DAY, 2)
    assert not await quotas.allow(scope, quota=20)


async def test_a_new_day_starts_fresh(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    today = FakeDay(DAY)
    quotas = QuotaLeases(sessions, slice_size=5, clock_today=today)
    scope = _scope("enterprise")
    assert await quotas.allow(scope, quota=3)
    quotas.spend(scope, 7)  # a deficit of 4 nobody can pay today
    assert not await quotas.allow(scope, quota=3)
    today.day = DAY + timedelta(days=1)
    assert quotas.local_allowance(scope) == 0
    assert await quotas.allow(scope, quota=3)  # neither yesterday's refusal nor its deficit
    assert quotas.local_allowance(scope) == 3
    assert await _usage(engine, scope, DAY) == (3, 0)
    assert await _usage(engine, scope, DAY + timedelta(days=1)) == (3, 0)


async def test_concurrent_admissions_share_one_quota_lease(
    sessions: async_sessionmaker[AsyncSession], statements: list[str]
) -> None:
    quotas = QuotaLeases(sessions, slice_size=50, clock_today=FakeDay(DAY))
    scope = _scope("parcel")
    assert all(await asyncio.gather(*(quotas.allow(scope, quota=100) for _ in range(30))))
    assert len(statements) == 1
    # all 30 were admitted on an allowance of 50 without spending: each discloses 2, and the
    # process ends 10 short, a deficit the next lease pays first
    for _ in range(30):
        quotas.spend(scope, 2)
    assert quotas.local_allowance(scope) == -10
    assert await quotas.allow(scope, quota=100)
    assert quotas.local_allowance(scope) == 40


async def test_processes_share_one_quota(sessions: async_sessionmaker[AsyncSession]) -> None:
    processes = [QuotaLeases(sessions, slice_size=4, clock_today=FakeDay(DAY)) for _ in range(3)]
    scope = _scope()
    spent = 0
    for _ in range(20):
        for quotas in processes:
            if await quotas.allow(scope, quota=25):
                quotas.spend(scope, 1)
                spent += 1
    assert spent == 25  # one subject per request, one at a time: exactly the quota


async def test_usage_per_scope_for_stewards(sessions: async_sessionmaker[AsyncSession]) -> None:
    quotas = QuotaLeases(sessions, slice_size=5, clock_today=FakeDay(DAY))
    agency = f"test-{uuid.uuid4().hex[:10]}"
    for subject_type in ("resident", "household"):
        assert await quotas.allow(QuotaScope(agency, "CT01", subject_type), quota=3)
    assert await quotas.usage(agency=agency, day=DAY) == [
        ScopeUsage(agency, "CT01", "household", DAY, disclosed=0, granted=3),
        ScopeUsage(agency, "CT01", "resident", DAY, disclosed=0, granted=3),
    ]
    assert await quotas.usage(agency=agency, day=DAY + timedelta(days=1)) == []
    everyone = await quotas.usage(agency=None, day=DAY)
    assert {usage.agency for usage in everyone} >= {agency}


async def test_a_quota_of_zero_admits_nothing(
    sessions: async_sessionmaker[AsyncSession], statements: list[str]
) -> None:
    quotas = QuotaLeases(sessions, slice_size=5, clock_today=FakeDay(DAY))
    assert not await quotas.allow(_scope(), quota=0)
    assert statements == []
    with pytest.raises(ValueError, match="count"):
        quotas.spend(_scope(), -1)


def test_quotas_reset_at_midnight_vietnam_time() -> None:
    assert seconds_until_reset(datetime(2026, 3, 2, 23, 59, 30, tzinfo=VIETNAM_TIME)) == 30
    assert seconds_until_reset(datetime(2026, 3, 2, 0, 0, tzinfo=VIETNAM_TIME)) == 86400
    # 16:59:59.5 UTC is 23:59:59.5 in Hà Nội: half a second, said as one
    assert seconds_until_reset(datetime(2026, 3, 2, 16, 59, 59, 500000, tzinfo=UTC)) == 1
    assert seconds_until_reset(datetime(2026, 3, 2, 17, 0, tzinfo=UTC)) == 86400
    assert 1 <= seconds_until_reset() <= 86400
    with pytest.raises(ValueError, match="aware"):
        seconds_until_reset(datetime(2026, 3, 2, 12, 0))  # naive: the error under test
