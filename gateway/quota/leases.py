"""Request rates and daily disclosure quotas shared by every gateway process, leased in slices.

A limit that must hold across processes and replicas lives in PostgreSQL, but a row written on
every request would serialise the whole gateway on it. So each process *leases* a slice of the
shared budget with one atomic statement and spends it locally; the shared row is written once per
slice, not once per request (operators' view: docs/limits.md).

Rates (`RateLeases`): one token bucket per key in `rate_buckets`, refilled at `rate` tokens/s up
to `burst`, on the database's clock only (processes on different hosts never compare their own
clocks). A lease takes `slice = max(1, ceil(rate * slice_seconds))` tokens, or what the bucket
holds if that is less (at least one); a bucket that cannot give one token answers with the wait
until one is back. Leased tokens have left the shared bucket, hence

    over any interval of T seconds, requests admitted for one key, over all P processes,
        <= burst + rate * T + P * slice

(the last term: tokens leased before the interval and spent during it, at most one slice per
process; from a cold start, with nothing leased, <= burst + rate * T). A leftover older than
`forfeit_seconds = max(1, 10 * slice_seconds)` is not spent: a process that stopped receiving
traffic gives it back with its next lease of that key (or never, if it never sees the key again:
the bucket refills to `burst` in `burst / rate` seconds anyway). Under demand exceeding the rate
at every process, admitted >= (tokens in the bucket at the start) + rate * T - P * slice
- (slice + 1): the slices held unspent at the end, and what the bucket gathered since its last
lease (a refused process asks again within one slice period, or 1 / rate if that is longer).

Quotas (`QuotaLeases`): per agreement scope (agency, purpose, subject type) and day in Vietnam
time, in `quota_usage`: `granted` counts what processes leased, `disclosed` what the access log
wrote. A process admits a request while its local allowance is > 0; `spend` takes the subjects
the request went on to disclose, and the allowance may go negative (a deficit). When the allowance
is <= 0 the process leases `slice + deficit`, at most what is left (`quota - max(granted,
disclosed)`): the deficit is paid first, and if what is left cannot pay it and leave at least one
subject, the request is refused (and every later one of that scope and day: what is left never
grows, unless the quota does). So every request is admitted with an allowance >= 1 and no earlier
deficit outstanding, the sum of leases never exceeds the quota, and a subject is disclosed beyond
the quota only as a deficit no lease could pay:

    subjects of a scope disclosed in a day <= quota + sum over processes p of D_p,
    D_p <= (subjects disclosed by the requests in flight at p when it admitted its last request
            of the scope, that one included) - 1
        <= c_p * m - 1,

with c_p the number of those requests and m the most subjects of that type one request
discloses (D_p = 0 for a process that was never refused). With one subject per request and one
request at a time per process the overshoot is zero; with c concurrent single-subject requests, at
most c - 1 per process. It cannot be made "at most one slice per process" whatever the requests:
a request is admitted before it is resolved, so how many subjects it discloses is known only
after, when it can no longer be refused; what its process's next lease cannot pay is the
overshoot above. The bound assumes every disclosure of a scope that has a quota was admitted by
`allow` for that scope. Undershoot: a refusal means granted or disclosed reached the quota, and
each other process holds at most one slice unspent (a lease leaves at most `slice` after paying
the deficit), so when a process is refused, disclosed >= quota - (P - 1) * slice.

The local state is bounded: an entry per key (or scope and day) in use; idle entries are dropped
once more than `max_keys` exist.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import cast

import structlog
from sqlalchemy import TextClause, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.background import Periodic
from gateway.quota.models import QuotaUsage
from registries.history import VIETNAM_TIME

log = structlog.get_logger(__name__)
CITIZEN_ID = re.compile(r"\d{12}")
# A statement that does not answer in this long counts as the database being unavailable: the
# request fails closed instead of waiting for a connection timeout of a minute.
DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_MAX_KEYS = 10_000
# Two processes creating the same row at once: the loser's statement finds nothing to update and
# inserts nothing; it is run again (the row then exists). A few rounds are more than enough.
_RACE_ROUNDS = 3
# Errors of the database or of the way to it: the limits cannot be known, nothing is admitted.
_UNREACHABLE = (SQLAlchemyError, OSError, TimeoutError)


class LimitsUnavailable(RuntimeError):  # noqa: N818 - the gateway maps it to UNAVAILABLE
    """The shared limits could not be read or leased: no request may be admitted."""


def retry_after_seconds(wait: float) -> int:
    """`extensions.retryAfter` and `Retry-After`: whole seconds, never 0 for a refused request."""
    return max(1, math.ceil(wait))


def agency_key(agency: str) -> str:
    """The rate bucket of an agency (its client id)."""
    if not agency:
        raise ValueError("an agency key needs the agency's client id")
    return f"agency:{agency}"


def citizen_key(citizen_id: str) -> str:
    """The rate bucket of a citizen (the 12-digit personal id of a citizen token)."""
    if not CITIZEN_ID.fullmatch(citizen_id):
        raise ValueError("a citizen key needs a 12-digit personal id")
    return f"citizen:{citizen_id}"


def vietnam_today() -> date:
    return datetime.now(VIETNAM_TIME).date()


def seconds_until_reset(now: datetime | None = None) -> int:
    """Whole seconds until the daily quotas start afresh: the next midnight, Vietnam time."""
    now = datetime.now(VIETNAM_TIME) if now is None else now
    if now.tzinfo is None:
        raise ValueError("seconds_until_reset needs an aware datetime")
    local = now.astimezone(VIETNAM_TIME)
    midnight = datetime.combine(local.date() + timedelta(days=1), clock_time.min, VIETNAM_TIME)
    return max(1, math.ceil((midnight - local).total_seconds()))


# One statement per lease. The row is read FOR UPDATE in the statement itself so that the grant is
# known: RETURNING sees only the new row, and from it alone a partial grant cannot be told apart
# from a full one. The locked read returns the row's latest version even when another process
# updated it after this statement's snapshot, and the UPDATE then applies to that version (nobody
# else can change it while it is locked). A key without a row is inserted full minus the lease;
# when two processes insert it at once the loser gets no row back and runs the statement again.
# The time is the database's: `clock_timestamp()`, read once for the row version the lease locks
# (a lease that waited for another one reads it again on the new version), never earlier than the
# row's own `updated_at`, so that time cannot run backwards for a bucket.
_RATE_LEASE = text(
    """
WITH args AS (
    SELECT CAST(:key AS text) AS key, CAST(:rate AS float8) AS rate,
           CAST(:burst AS float8) AS burst, CAST(:size AS float8) AS size,
           CAST(:returned AS float8) AS returned
),
held AS (
    SELECT b.key, b.tokens, b.updated_at,
           greatest(0.0, extract(epoch FROM clock_timestamp() - b.updated_at)::float8) AS elapsed
    FROM rate_buckets AS b JOIN args ON b.key = args.key
    FOR UPDATE OF b
),
offer AS (
    SELECT h.key, h.updated_at + make_interval(secs => h.elapsed) AS at, a.size,
           least(a.burst, h.tokens + h.elapsed * a.rate + a.returned) AS available
    FROM held AS h CROSS JOIN args AS a
),
taken AS (
    UPDATE rate_buckets AS b
    SET tokens = o.available - greatest(0.0, least(o.size, floor(o.available))),
        updated_at = o.at
    FROM offer AS o
    WHERE b.key = o.key
    RETURNING greatest(0.0, least(o.size, floor(o.available))) AS granted, b.tokens
),
created AS (
    INSERT INTO rate_buckets (key, tokens, updated_at)
    SELECT a.key, a.burst - least(a.size, a.burst), clock_timestamp()
    FROM args AS a
    WHERE NOT EXISTS (SELECT FROM held)
    ON CONFLICT (key) DO NOTHING
    RETURNING tokens
)
SELECT CAST(granted AS integer) AS granted, tokens FROM taken
UNION ALL
SELECT CAST(least(a.size, a.burst) AS integer), c.tokens FROM created AS c CROSS JOIN args AS a
"""
)

_RATE_PRUNE = text(
    "DELETE FROM rate_buckets "
    "WHERE updated_at < clock_timestamp() - make_interval(secs => CAST(:idle AS float8))"
)

# The same shape for a quota: the locked read gives the grant n = min(want, what is left), the
# UPDATE adds it to `granted` (only when there is something to give), a new scope is inserted with
# its first lease, and a refusal returns the row's counts with n = 0.
_QUOTA_LEASE = text(
    """
WITH args AS (
    SELECT CAST(:agency AS text) AS agency, CAST(:purpose AS text) AS purpose,
           CAST(:subject_type AS text) AS subject_type, CAST(:day AS date) AS day,
           CAST(:want AS bigint) AS want, CAST(:quota AS bigint) AS quota
),
held AS (
    SELECT q.agency, q.purpose, q.subject_type, q.day, q.granted, q.disclosed,
           greatest(0, least(a.want, a.quota - greatest(q.granted, q.disclosed))) AS n
    FROM quota_usage AS q
    JOIN args AS a ON q.agency = a.agency AND q.purpose = a.purpose
        AND q.subject_type = a.subject_type AND q.day = a.day
    FOR UPDATE OF q
),
taken AS (
    UPDATE quota_usage AS q
    SET granted = q.granted + h.n
    FROM held AS h
    WHERE q.agency = h.agency AND q.purpose = h.purpose AND q.subject_type = h.subject_type
        AND q.day = h.day AND h.n > 0
    RETURNING h.n, q.granted, q.disclosed
),
created AS (
    INSERT INTO quota_usage (agency, purpose, subject_type, day, disclosed, granted)
    SELECT a.agency, a.purpose, a.subject_type, a.day, 0, least(a.want, a.quota)
    FROM args AS a
    WHERE NOT EXISTS (SELECT FROM held)
    ON CONFLICT (agency, purpose, subject_type, day) DO NOTHING
    RETURNING granted AS n, granted, disclosed
)
SELECT n, granted, disclosed FROM taken
UNION ALL
SELECT n, granted, disclosed FROM created
UNION ALL
SELECT 0, granted, disclosed FROM held WHERE n = 0
"""
)


@dataclass
class _Flight:
    """Single flight: one lease of a key at a time in a process; the others wait for its result.
    `users` counts the coroutines inside, so that an entry is never dropped under them."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    attempts: int = 0
    failed: bool = False


@dataclass
class _Slice(_Flight):
    tokens: int = 0  # leased, not yet spent
    leased_at: float = 0.0  # the process's clock, for the slice's age only
    retry_at: float = 0.0  # a refusal holds until then, without asking the database again


@dataclass
class RateLease:
    """What one lease statement answered: tokens granted, and the bucket left after it."""

    granted: int
    tokens: float


class RateLeases:
    """Token buckets shared by every gateway process, leased in slices (module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        slice_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if slice_seconds <= 0:
            raise ValueError("slice_seconds must be > 0")
        self._sessions = sessions
        self.slice_seconds = slice_seconds
        # Tokens leased longer ago than this are not spent: a process that stopped receiving
        # traffic must not keep a share of the bucket, nor spend tokens the bucket gave long ago.
        self.forfeit_seconds = max(1.0, 10 * slice_seconds)
        self._clock = clock
        self._timeout = timeout
        self._max_keys = max_keys
        self._slices: dict[str, _Slice] = {}

    def slice_size(self, rate: float) -> int:
        return max(1, math.ceil(rate * self.slice_seconds))

    async def acquire(self, key: str, *, rate: float, burst: int) -> float:
        """0.0 when the request may go; else the seconds until a token would be back."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        held = self._slices.get(key) or self._add(key)
        spent = self._spend(held)
        if spent is not None:
            return spent
        held.users += 1
        try:
            attempt = held.attempts
            async with held.lock:
                # whoever held the lock may have leased (or been refused) for us meanwhile
                spent = self._spend(held)
                if spent is not None:
                    return spent
                if held.attempts != attempt and held.failed:
                    # the lease this request waited for failed just now: fail at once rather
                    # than queue one more timeout behind it
                    raise LimitsUnavailable("the shared rate limits cannot be reached")
                return await self._lease(key, held, rate=rate, burst=burst)
        finally:
            held.users -= 1

    async def prune(self, *, idle_seconds: float) -> int:
        """Delete buckets untouched for longer than `idle_seconds` (pass at least burst / rate:
        such a bucket is full again, and a deleted one starts full); the number deleted."""
        try:
            async with asyncio.timeout(self._timeout), self._sessions.begin() as session:
                result = await session.execute(_RATE_PRUNE, {"idle": idle_seconds})
        except _UNREACHABLE as error:
            raise LimitsUnavailable("the shared rate limits cannot be reached") from error
        return int(getattr(result, "rowcount", 0))

    def _spend(self, held: _Slice) -> float | None:
        """0.0: a local token was spent; > 0: a recent refusal still holds; None: lease."""
        now = self._clock()
        if held.tokens > 0 and now - held.leased_at <= self.forfeit_seconds:
            held.tokens -= 1
            return 0.0
        if now < held.retry_at:
            return held.retry_at - now
        return None

    async def _lease(self, key: str, held: _Slice, *, rate: float, burst: int) -> float:
        size = self.slice_size(rate)
        # a stale leftover is not spent but given back with this lease, in the same statement
        returned = held.tokens
        held.failed = True
        try:
            lease = await self._lease_statement(
                key, rate=rate, burst=burst, size=size, returned=returned
            )
            held.failed = False
        finally:
            # counted once finished, so that the requests that waited for this very attempt can
            # tell it failed
            held.attempts += 1
        held.tokens = 0
        now = self._clock()
        if lease.granted > 0:
            held.tokens = lease.granted - 1
            held.leased_at = now
            held.retry_at = 0.0
            return 0.0
        # The bucket holds less than one token: the wait until one is back, from the row. The
        # process asks again only once a whole slice could be back (at most a slice period), so
        # that refused traffic does not turn into one statement per request.
        wait = max((1.0 - lease.tokens) / rate, 1e-6)
        again = min(self.slice_seconds, (min(size, burst) - lease.tokens) / rate)
        held.retry_at = now + max(wait, again)
        return wait

    async def _lease_statement(
        self, key: str, *, rate: float, burst: int, size: int, returned: int
    ) -> RateLease:
        params = {"key": key, "rate": rate, "burst": burst, "size": size, "returned": returned}
        for _ in range(_RACE_ROUNDS):
            row = await _execute_autocommit(
                self._sessions, _RATE_LEASE, params, seconds=self._timeout, what="rate limits"
            )
            if row is not None:
                return RateLease(granted=cast(int, row[0]), tokens=cast(float, row[1]))
        raise LimitsUnavailable(f"the rate bucket {key} could not be leased")

    def _add(self, key: str) -> _Slice:
        if len(self._slices) >= self._max_keys:
            self._evict()
        held = self._slices[key] = _Slice()
        return held

    def _evict(self) -> None:
        """Drop idle entries: first those holding nothing, then the oldest ones (their tokens are
        forfeited, which only ever admits less)."""
        now = self._clock()
        idle = [key for key, held in self._slices.items() if held.users == 0]
        for key in idle:
            held = self._slices[key]
            stale = held.tokens == 0 or now - held.leased_at > self.forfeit_seconds
            if stale and now >= held.retry_at:
                del self._slices[key]
        target = self._max_keys * 3 // 4
        for key in idle:
            if len(self._slices) <= target:
                break
            self._slices.pop(key, None)


@dataclass(frozen=True)
class QuotaScope:
    """The scope of a daily quota: an agreement's agency, purpose and subject type (the access
    log's name: "resident", "household", "enterprise", "parcel")."""

    agency: str
    purpose: str
    subject_type: str


@dataclass(frozen=True)
class ScopeUsage:
    """One scope's day: subjects the access log wrote, and what processes leased."""

    agency: str
    purpose: str
    subject_type: str
    day: date
    disclosed: int
    granted: int


@dataclass
class _Allowance(_Flight):
    remaining: int = 0  # leased minus disclosed; negative: a deficit the next lease pays first
    refused_at: int | None = None  # the quota at which nothing was left; refused until it grows


class QuotaLeases:
    """Daily quotas per agreement scope, leased in slices (module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        slice_size: int,
        clock_today: Callable[[], date] = vietnam_today,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if slice_size < 1:
            raise ValueError("slice_size must be >= 1")
        self._sessions = sessions
        self.slice_size = slice_size
        self._today = clock_today
        self._timeout = timeout
        self._max_keys = max_keys
        self._day: date | None = None
        # per scope and day: a new day starts fresh, whatever the previous one left
        self._allowances: dict[tuple[QuotaScope, date], _Allowance] = {}

    async def allow(self, scope: QuotaScope, *, quota: int) -> bool:
        """Whether this process may admit one more request disclosing subjects of `scope` today:
        True while its local allowance is > 0; otherwise it leases `slice_size` plus its deficit,
        at most what is left today, in one statement; False when that cannot leave at least one
        subject (nothing is left today)."""
        if quota <= 0:
            return False
        day = self._today()
        allowance = self._allowance(scope, day)
        decided = _decided(allowance, quota)
        if decided is not None:
            return decided
        allowance.users += 1
        try:
            attempt = allowance.attempts
            async with allowance.lock:
                decided = _decided(allowance, quota)
                if decided is not None:
                    return decided
                if allowance.attempts != attempt and allowance.failed:
                    raise LimitsUnavailable("the shared quotas cannot be reached")
                return await self._lease(scope, day, allowance, quota=quota)
        finally:
            allowance.users -= 1

    def spend(self, scope: QuotaScope, count: int) -> None:
        """Subjects of `scope` this process has just disclosed (after the access log wrote them),
        taken from today's local allowance, which may go negative: the request was admitted with
        an allowance >= 1 but disclosed more. The next lease pays the deficit first. (A request
        admitted before midnight and finished after it is charged to the new day, as the access
        log counts it.)"""
        if count < 0:
            raise ValueError("count must be >= 0")
        if count:
            self._allowance(scope, self._today()).remaining -= count

    def local_allowance(self, scope: QuotaScope) -> int:
        """What this process may still admit of `scope` today before leasing again (negative:
        its deficit)."""
        allowance = self._allowances.get((scope, self._today()))
        return 0 if allowance is None else allowance.remaining

    async def usage(self, *, agency: str | None, day: date) -> list[ScopeUsage]:
        """For stewards: disclosed and granted per scope on `day` (one agency's, or all)."""
        query = select(
            QuotaUsage.agency, QuotaUsage.purpose, QuotaUsage.subject_type, QuotaUsage.day,
            QuotaUsage.disclosed, QuotaUsage.granted,
        ).where(QuotaUsage.day == day)  # fmt: skip
        if agency is not None:
            query = query.where(QuotaUsage.agency == agency)
        query = query.order_by(QuotaUsage.agency, QuotaUsage.purpose, QuotaUsage.subject_type)
        try:
            async with asyncio.timeout(self._timeout), self._sessions() as session:
                rows = (await session.execute(query)).all()
        except _UNREACHABLE as error:
            raise LimitsUnavailable("the shared quotas cannot be reached") from error
        return [
            ScopeUsage(
                agency=row.agency, purpose=row.purpose, subject_type=row.subject_type,
                day=row.day, disclosed=row.disclosed, granted=row.granted,
            )
            for row in rows
        ]  # fmt: skip

    def _allowance(self, scope: QuotaScope, day: date) -> _Allowance:
        if day != self._day:
            # yesterday's allowances, deficits and refusals are of no use any more (an entry a
            # lease is still running for goes at a later sweep)
            self._day = day
            self._allowances = {key: held for key, held in self._allowances.items() if held.users}
        allowance = self._allowances.get((scope, day))
        if allowance is None:
            if len(self._allowances) >= self._max_keys:
                self._evict()
            allowance = self._allowances[scope, day] = _Allowance()
        return allowance

    def _evict(self) -> None:
        """Drop idle entries holding nothing, then idle ones holding an allowance (lost for the
        day: that only ever admits less). A deficit is never dropped: it has still to be paid."""
        target = self._max_keys * 3 // 4
        for holding in (False, True):
            for key, held in list(self._allowances.items()):
                if len(self._allowances) <= target:
                    return
                if held.users or (key[1] == self._day and held.remaining < 0):
                    continue
                if key[1] != self._day or (held.remaining > 0) is holding:
                    del self._allowances[key]

    async def _lease(
        self, scope: QuotaScope, day: date, allowance: _Allowance, *, quota: int
    ) -> bool:
        deficit = max(0, -allowance.remaining)
        params = {
            "agency": scope.agency, "purpose": scope.purpose, "subject_type": scope.subject_type,
            "day": day, "want": self.slice_size + deficit, "quota": quota,
        }  # fmt: skip
        allowance.failed = True
        try:
            granted = await self._lease_statement(params)
            allowance.failed = False
        finally:
            allowance.attempts += 1  # once finished: see RateLeases._lease
        allowance.remaining += granted
        if allowance.remaining > 0:
            allowance.refused_at = None
            return True
        # Nothing is left today at this quota (what there was went to the deficit): refused
        # without asking again, since granted and disclosed only grow, until the quota does.
        allowance.refused_at = quota
        return False

    async def _lease_statement(self, params: dict[str, object]) -> int:
        for _ in range(_RACE_ROUNDS):
            row = await _execute_autocommit(
                self._sessions, _QUOTA_LEASE, params, seconds=self._timeout, what="quotas"
            )
            if row is not None:
                return cast(int, row[0])
        raise LimitsUnavailable("the quota could not be leased")


def _decided(allowance: _Allowance, quota: int) -> bool | None:
    if allowance.remaining > 0:
        return True
    if allowance.refused_at is not None and quota <= allowance.refused_at:
        return False
    return None


async def _execute_autocommit(
    sessions: async_sessionmaker[AsyncSession],
    statement: TextClause,
    params: dict[str, object],
    *,
    seconds: float,
    what: str,
) -> tuple[object, ...] | None:
    """One statement in autocommit: one round trip, no BEGIN/COMMIT around it. Any failure to
    reach the database, or a statement slower than `seconds`, is LimitsUnavailable."""
    try:
        async with asyncio.timeout(seconds), sessions() as session:
            connection = await session.connection(
                execution_options={"isolation_level": "AUTOCOMMIT"}
            )
            row = (await connection.execute(statement, params)).first()
            return None if row is None else tuple(row)
    except _UNREACHABLE as error:
        raise LimitsUnavailable(f"the shared {what} cannot be reached") from error


class BucketPruner(Periodic):
    """Deletes rate buckets idle long enough to be full again, every `every` seconds: every
    citizen who ever called has a row, and a full bucket's row says nothing a missing one does
    not. Several processes may prune at once; a failure is logged and tried again next time."""

    name = "rate-bucket-pruner"

    def __init__(self, rates: RateLeases, *, every: float, idle_seconds: float) -> None:
        super().__init__(every)
        self._rates = rates
        self._idle = idle_seconds

    async def tick(self) -> int:
        try:
            pruned = await self._rates.prune(idle_seconds=self._idle)
        except LimitsUnavailable:
            log.warning("rate buckets could not be pruned; trying again later")
            return 0
        log.info("rate buckets pruned", rows=pruned)
        return pruned
