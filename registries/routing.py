"""Registry reads on PostgreSQL streaming replicas (`LIENTHONG_DATABASE_REPLICA_URLS`).

What goes where:
- registry reads (residents, households, enterprises, parcels) may go to a replica: they come
  from batch loads, and a few seconds of staleness — bounded by
  `LIENTHONG_DATABASE_REPLICA_MAX_LAG_SECONDS` — changes nothing a one-stop counter does;
- everything else stays on the primary: every write (access log, consents, stewards' changes)
  and the policy data a decision reads (agencies, agreements, consents). A revoked consent or a
  suspended agency must hold from the very next request, on whichever gateway replica it lands,
  and a citizen must see their own consent change at once (read-your-writes); waiting for a
  replica to replay past the commit's LSN would need that LSN carried from the gateway process
  that wrote it to every other one, and buys nothing: those reads are a few index lookups.

Which replica is in rotation is decided from PostgreSQL's own facts, read on each replica by a
background task (every `..._CHECK_SECONDS`, each check bounded by `..._TIMEOUT_SECONDS`): it
must still be in recovery, and its lag must be within bounds. The lag is bounded above by two
facts: the age of the last transaction it replayed, and, when its WAL receiver was last seen
streaming with everything received replayed, the time since then. A replica failing a query at
request time is taken out of rotation at once and the read is retried on the primary; the next
good check puts it back. With no replica configured, or none in rotation, reads use the primary.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from sqlalchemy import exc, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_engine

from lienthong.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")
ReadWork = Callable[..., Awaitable[T]]
"""A read, called as `work(session=…)`: it may run twice (on a replica, then on the primary)."""

# One round trip of the replica's own facts. `pg_stat_wal_receiver.status` needs pg_monitor (or
# a superuser); without it the receiver never looks `streaming` and only the replay age counts.
HEALTH = text(
    "SELECT pg_is_in_recovery(),"
    " coalesce((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false),"
    " pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn(),"
    " extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8"
)
# SQLSTATE classes that say the server, not the statement, failed: connection exception (08),
# operator intervention (57: shutdown, starting up, recovery conflict cancels), and 40001, which
# a hot standby raises when replay cancels a query.
SERVER_FAILURE_CLASSES = ("08", "57")
RECOVERY_CONFLICT = "40001"


def server_failed(error: BaseException) -> bool:
    """Whether a read failed because of the server it ran on (so the primary may answer it)."""
    if isinstance(error, OSError):  # TimeoutError included
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated or isinstance(error, exc.InterfaceError):
            return True
        original = error.orig
        state = str(getattr(original, "sqlstate", None) or "")
        cause = getattr(original, "__cause__", None)
        return (
            state.startswith(SERVER_FAILURE_CLASSES)
            or state == RECOVERY_CONFLICT
            or isinstance(cause, OSError)
        )
    return False


async def release(session: AsyncSession) -> None:
    """Close a session whose server may have gone away under it (stopped, failed over): its
    rollback then fails, and the connection is dropped from the pool instead of returned."""
    try:
        await session.close()
    except Exception as error:
        if not server_failed(error):
            raise
        await session.invalidate()


@dataclass
class Replica:
    name: str  # host:port/database: no credentials, safe for logs
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    in_rotation: bool = False
    lag_seconds: float | None = None
    reason: str = "not checked yet"
    caught_up_at: float | None = None  # monotonic time it was last seen streaming, all replayed
    changed_at: float = field(default_factory=time.monotonic)


class ReadReplicas:
    """The replicas of one gateway process, with their rotation state."""

    def __init__(
        self,
        urls: list[str],
        *,
        max_lag_seconds: float,
        check_seconds: float,
        timeout_seconds: float,
        pool_size: int = 10,
    ) -> None:
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        self.timeout_seconds = timeout_seconds
        self.replicas = [self._replica(url, pool_size) for url in urls]
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = 10) -> ReadReplicas | None:
        urls = settings.async_replica_urls
        if not urls:
            return None
        return cls(
            urls,
            max_lag_seconds=settings.database_replica_max_lag_seconds,
            check_seconds=settings.database_replica_check_seconds,
            timeout_seconds=settings.database_replica_timeout_seconds,
            pool_size=pool_size,
        )

    def _replica(self, url: str, pool_size: int) -> Replica:
        parsed = make_url(url)
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            # a replica that hangs must not hold a request: past the timeout the primary answers
            connect_args={
                "timeout": self.timeout_seconds,
                "command_timeout": self.timeout_seconds,
            },
        )
        return Replica(
            name=f"{parsed.host}:{parsed.port or 5432}/{parsed.database}",
            engine=engine,
            sessions=async_sessionmaker(engine, expire_on_commit=False),
        )

    @property
    def any_in_rotation(self) -> bool:
        return any(replica.in_rotation for replica in self.replicas)

    def pick(self) -> Replica | None:
        """A replica in rotation (round robin), or None: read from the primary."""
        ready = [replica for replica in self.replicas if replica.in_rotation]
        return ready[next(self._turn) % len(ready)] if ready else None

    def take_out(self, replica: Replica, reason: str) -> None:
        self._set(replica, in_rotation=False, reason=reason)

    def _set(self, replica: Replica, *, in_rotation: bool, reason: str) -> None:
        if replica.in_rotation != in_rotation:
            replica.changed_at = time.monotonic()
            log.warning(
                "replica in rotation" if in_rotation else "replica out of rotation",
                replica=replica.name,
                reason=reason,
                lag_seconds=replica.lag_seconds,
            )
        replica.in_rotation = in_rotation
        replica.reason = reason

    async def check(self, replica: Replica) -> None:
        """Read the replica's recovery state and lag; put it in or out of rotation."""
        try:
            async with asyncio.timeout(self.timeout_seconds), replica.engine.connect() as conn:
                row = (await conn.execute(HEALTH)).one()
        except Exception as error:  # whatever the failure, this replica cannot serve reads
            replica.lag_seconds = None
            self._set(replica, in_rotation=False, reason=f"check failed: {type(error).__name__}")
            return
        in_recovery, streaming, replayed_all, replay_age = row
        if not in_recovery:  # promoted, or a primary by mistake: not a replica of ours any more
            replica.lag_seconds = None
            self._set(replica, in_rotation=False, reason="not in recovery")
            return
        now = time.monotonic()
        if streaming and replayed_all:
            replica.caught_up_at = now
            lag = 0.0
        else:
            bounds = [] if replay_age is None else [replay_age]
            if replica.caught_up_at is not None:
                bounds.append(now - replica.caught_up_at)
            lag = min(bounds, default=math.inf)
        replica.lag_seconds = lag
        if lag > self.max_lag_seconds:
            self._set(replica, in_rotation=False, reason=f"lag {lag:.1f}s")
        else:
            self._set(replica, in_rotation=True, reason="ok")

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(replica) for replica in self.replicas))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            await self.check_all()

    async def start(self) -> None:
        """Check every replica once (none serves before its first good check), then keep
        checking in the background."""
        await self.check_all()
        self._task = asyncio.create_task(self._watch(), name="replica-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for replica in self.replicas:
            await replica.engine.dispose()


class RequestReads:
    """One request's registry reads: all on the same replica (one point in time per request),
    and on the primary from the first failure of that replica on."""

    def __init__(
        self,
        replicas: ReadReplicas,
        primary: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    ) -> None:
        self._replicas = replicas
        self._primary = primary
        self._replica = replicas.pick()
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()  # DataLoaders of one tick run concurrently; a session must not

    async def run(self, work: ReadWork[T]) -> T:
        async with self._lock:
            replica = self._replica
            if replica is not None:
                if self._session is None:
                    self._session = replica.sessions()
                try:
                    return await work(session=self._session)
                except Exception as error:
                    if not server_failed(error):
                        raise
                    self._replicas.take_out(replica, f"read failed: {type(error).__name__}")
                    self._replica = None
                    await self._discard()
        async with self._primary() as session:
            return await work(session=session)

    async def _discard(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await release(session)

    async def close(self) -> None:
        async with self._lock:
            await self._discard()
