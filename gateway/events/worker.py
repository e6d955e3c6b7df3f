"""`lienthong worker`: fans change events out to subscriptions and pushes them as signed
webhooks. Any number of workers on any number of hosts share the work through PostgreSQL alone.

Invariants (gateway/events/fanout.py and gateway/events/deliveries.py say how the tables keep
them):
- fan-out: one delivery per (subscription, event) the decision allows, its payload decided
  once; nothing missed, nothing doubled;
- before each attempt the subscription must still be approved and the decision must still give
  every field the stored payload carries, else the delivery is cancelled with the reason and
  nothing is sent; the stored bytes are sent as they are, under the event id (`webhook-id`),
  signed with the subscription's secret (Standard Webhooks). A delivery this worker has just
  made is leased to it as it is made and sent at once: the decision that made it, moments
  before (FRESH_DECISION_SECONDS at most), is its first attempt's check; every later attempt,
  and any attempt by another worker, decides again;
- an attempt is given up before its lease ends (a quarter of the lease to spare), so that no
  other worker attempts the same delivery while it runs; a worker killed mid-attempt loses
  nothing: its leases end and another worker takes the deliveries (at least once);
- a 2xx answer is a disclosure: recorded durably in the access log (gateway/audit/writer.py),
  the event id as its request id, before the delivery is marked delivered; if the log cannot
  record it the delivery stays due and is sent again later;
- another answer, or none in time, is a failed attempt, retried after a backoff with full
  jitter, `dead` after LIENTHONG_WEBHOOK_MAX_ATTEMPTS (a steward may redeliver it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import structlog
import typer
import uvicorn
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.audit.writer import AccessLogWriter, AuditUnavailable, Disclosure
from gateway.events import deliveries
from gateway.events.batching import Batcher
from gateway.events.deliveries import Claimed
from gateway.events.fanout import Decided, Decider, Lease, fan_out
from gateway.events.metrics import WorkerMetrics
from gateway.events.webhooks import backoff, headers
from gateway.ops import require_ops
from gateway.policy.models import Subscription
from lienthong.logging import configure_logging
from lienthong.settings import Settings, get_settings
from registries.db import session_factory
from registries.events import ChangeEvent
from registries.history import is_current

log = structlog.get_logger(__name__)

# A delivery made by this worker's fan-out is sent at once, the decision that made it serving
# as its first attempt's check, if the fan-out pass took at most this long; else it is checked.
FRESH_DECISION_SECONDS = 2.0
FAN_OUT_BATCH = 100  # events of one subscription decided in one transaction, at most
ANSWER_READ_BYTES = 64 * 1024  # of a receiver's answer, past which its connection is dropped
# A worker's beat older than this (or its loops gone) makes /healthz answer 503.
STALE_AFTER_SECONDS = 30.0
LAG_EVERY_SECONDS = 5.0
# Database connections of one worker: its attempts hold one only to check and to record, never
# during a request, and fan-out holds two
POOL_SIZE = 8


def worker_name() -> str:
    """`host:pid:random`: what `locked_by` says, unique per process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _not_in_force(subscription: Subscription | None) -> str | None:
    """Why deliveries of this subscription may not be attempted (None: they may)."""
    if subscription is None:
        return f"{deliveries.REVOKED}: the subscription no longer exists"
    note = f" ({subscription.note})" if subscription.note else ""
    if subscription.status == "suspended":
        return f"{deliveries.SUSPENDED}: the subscription is suspended{note}"
    if subscription.status == "revoked":
        return f"{deliveries.REVOKED}: the subscription is revoked{note}"
    if subscription.status != "approved":
        return f"{deliveries.NOT_APPROVED}: the subscription is {subscription.status}"
    if not subscription.endpoint or not subscription.secret:
        return f"{deliveries.NOT_APPROVED}: the subscription has no endpoint"
    return None


def _verdict(
    claimed: Claimed, subscription: Subscription, event: ChangeEvent, decided: Decided | None
) -> Allowed | str:
    """The decision made again (`decided`): the stored payload may be sent only if it is still
    what the decision gives (else why not)."""
    if decided is None:
        return (
            f"{deliveries.NOT_ALLOWED}: the agreements or the subject's consents no "
            f"longer give what a {event.type} event reveals"
        )
    why = deliveries.still_allowed(claimed, set(decided.fields_given), set(decided.fields_masked))
    if why is None and not deliveries.same_payload(claimed.payload, decided.payload):
        why = (
            f"{deliveries.DECISION_CHANGED}: the payload decided now is not the one stored "
            "(the agreements or consents changed)"
        )
    return why if why is not None else Allowed(subscription, event, decided)


@dataclass(frozen=True)
class Allowed:
    """What the check before an attempt found: it may be made."""

    subscription: Subscription
    event: ChangeEvent
    decided: Decided


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer
    error: str | None  # None: 2xx
    latency_ms: int | None


class Worker:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        decider: Decider,
        audit: AccessLogWriter,
        metrics: WorkerMetrics | None = None,
        name: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.decider = decider
        self.audit = audit
        self.metrics = metrics or WorkerMetrics()
        self.name = name or worker_name()
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.worker_concurrency),
        )
        self._checks: Batcher[Claimed, Allowed | str] = Batcher(
            self._check_many, max_batch=64, name="worker-checks"
        )
        self._delivered: Batcher[tuple[Claimed, int, int], bool] = Batcher(
            self._record_delivered, max_batch=256, name="worker-delivered"
        )
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._beats: dict[str, float] = {}

    # --- one round each, as the loops run them (and tests drive them) -----------------------

    async def fan_out_once(self, *, send: bool = False) -> int:
        """One fan-out pass; the deliveries it made. With `send`, those made leased to this
        worker (as many as it has free slots) are attempted at once, the decision just made
        serving as the first attempt's check if the pass took FRESH_DECISION_SECONDS at most;
        and the pass takes no more events than it has free slots, so that what this worker
        decides it sends on that decision, rather than deciding it again when it is claimed
        (other workers fan out the rest). No free slot: no pass."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        started = loop.time()  # the leases start no earlier than this
        free = settings.worker_concurrency - len(self._inflight)
        if send and free <= 0:
            return 0
        lease = Lease(self.name, settings.webhook_lease_seconds, free) if send else None
        done = await fan_out(
            self.sessions,
            decider=self.decider,
            limit=FAN_OUT_BATCH,
            progress=lambda: self._beat("fan-out"),
            lease=lease,
        )
        self.metrics.fanned_out.labels("delivery").inc(done.deliveries)
        self.metrics.fanned_out.labels("refused").inc(done.refused)
        deadline = started + settings.webhook_lease_seconds * 0.75
        fresh = loop.time() - started <= FRESH_DECISION_SECONDS
        for made in done.leased:
            allowed = Allowed(made.subscription, made.event, made.decided) if fresh else None
            self._spawn(self.attempt(made.claimed, deadline, allowed))
        if done.deliveries > len(done.leased):
            self._wake.set()  # others to claim
        return done.deliveries

    async def claim(self, limit: int) -> list[tuple[Claimed, float]]:
        """Up to `limit` due deliveries leased to this worker, each with the loop time by which
        its attempt is given up."""
        lease = self.settings.webhook_lease_seconds
        started = asyncio.get_running_loop().time()  # the lease starts no earlier than this
        async with self.sessions.begin() as session:
            claimed = await deliveries.claim(
                session, worker=self.name, limit=limit, lease_seconds=lease
            )
        deadline = started + lease * 0.75
        return [(c, deadline) for c in claimed]

    async def deliver_once(self, limit: int | None = None) -> int:
        """Claim what is due and attempt it all; the attempts made."""
        claimed = await self.claim(limit or self.settings.worker_concurrency)
        await asyncio.gather(*(self.attempt(c, deadline) for c, deadline in claimed))
        return len(claimed)

    # --- one attempt ------------------------------------------------------------------------

    async def check(self, claimed: Claimed) -> Allowed | str:
        """Whether the attempt may be made now; else why the delivery is cancelled. Checks
        asked at once are made together (`_check_many`)."""
        return await self._checks(claimed)

    async def _check_many(self, claims: list[Claimed]) -> list[Allowed | str | BaseException]:
        """`check` for several claims: their subscriptions and events read in one session, their
        decisions made through another."""
        async with self.sessions() as session:
            subscriptions = {
                s.subscription_id: s
                for s in (
                    await session.execute(
                        select(Subscription).where(
                            Subscription.subscription_id.in_({c.subscription_id for c in claims}),
                            is_current(Subscription),
                        )
                    )
                ).scalars()
            }
            events = {
                e.seq: e
                for e in (
                    await session.execute(
                        select(ChangeEvent).where(
                            ChangeEvent.seq.in_({c.event_seq for c in claims})
                        )
                    )
                ).scalars()
            }
        verdicts: dict[int, Allowed | str | BaseException] = {}
        asked: dict[str, list[Claimed]] = {}  # the claims to decide again, by subscription
        for claimed in claims:
            subscription = subscriptions.get(claimed.subscription_id)
            refused = _not_in_force(subscription)
            if refused is not None or subscription is None:
                verdicts[claimed.delivery_id] = refused or ""
            else:
                asked.setdefault(claimed.subscription_id, []).append(claimed)
        async with self.decider.reading() as decide:
            for subscription_id, theirs in asked.items():
                subscription = subscriptions[subscription_id]
                try:
                    decided = await decide([events[c.event_seq] for c in theirs], subscription)
                except Exception as error:  # these are not attempted; the others may be
                    verdicts.update((c.delivery_id, error) for c in theirs)
                    continue
                for claimed, payload in zip(theirs, decided, strict=True):
                    event = events[claimed.event_seq]
                    verdicts[claimed.delivery_id] = _verdict(claimed, subscription, event, payload)
        return [verdicts[claimed.delivery_id] for claimed in claims]

    async def post(self, endpoint: str, secret: str, claimed: Claimed) -> Answer:
        body = claimed.payload
        sent = headers(secret=secret, event_id=str(claimed.event_id), body=body)
        self.metrics.attempts.inc()
        started = time.perf_counter()
        try:
            async with (
                asyncio.timeout(self.settings.webhook_timeout_seconds),
                self.client.stream("POST", endpoint, content=body, headers=sent) as response,
            ):
                status = response.status_code
                # The answer read to its end, so that the connection is kept for the next
                # delivery (a TLS handshake per event otherwise); a longer one is cut short
                said = b""
                async for chunk in response.aiter_bytes():
                    said += chunk
                    if len(said) > ANSWER_READ_BYTES:
                        break
                if 200 <= status < 300:
                    error = None
                else:
                    text = said[:300].decode("utf-8", "replace").strip()
                    error = f"HTTP {status}" + (f": {text}" if text else "")
        except TimeoutError:
            return Answer(
                None, f"no answer within {self.settings.webhook_timeout_seconds:g}s", None
            )
        except httpx.HTTPError as failure:
            return Answer(None, f"{type(failure).__name__}: {failure}"[:500] or "HTTP error", None)
        elapsed = time.perf_counter() - started
        self.metrics.request_seconds.observe(elapsed)
        return Answer(status, error, round(elapsed * 1000))

    def disclosures(self, allowed: Allowed, claimed: Claimed, status: int) -> list[Disclosure]:
        """The access-log entries of a delivered payload, as the decision recorded them (one per
        subject it gives anything of), the event id as their request id, with the delivery."""
        return [
            replace(
                entry,
                decision={
                    **entry.decision,
                    "delivery": claimed.delivery_id,
                    "attempt": claimed.attempts,
                    "status": status,
                },
            )
            for entry in allowed.decided.disclosures(
                request_id=str(claimed.event_id),
                channel="push",
                operation=f"webhook:{allowed.event.type}",
            )
        ]

    async def attempt(
        self, claimed: Claimed, deadline: float, allowed: Allowed | None = None
    ) -> None:
        """Check (unless `allowed` says what a decision made for it just now found), send,
        record: the module's invariants for one claimed delivery."""
        self.metrics.in_flight.inc()
        try:
            await self._attempt(claimed, deadline, allowed)
        except Exception as error:  # the lease ends and another attempt follows
            log.error(
                "webhook attempt failed unexpectedly",
                delivery=claimed.delivery_id,
                error=f"{type(error).__name__}: {error}",
            )
        finally:
            self.metrics.in_flight.dec()

    async def _attempt(self, claimed: Claimed, deadline: float, allowed: Allowed | None) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                if allowed is None:
                    try:
                        verdict = await self.check(claimed)
                    except Exception as error:  # the policy engine or the database
                        await self._postpone(claimed, f"{type(error).__name__}: {error}")
                        return
                    if isinstance(verdict, str):
                        await self._cancel(claimed, verdict)
                        return
                    allowed = verdict
                subscription = allowed.subscription
                answer = await self.post(
                    subscription.endpoint or "", subscription.secret or "", claimed
                )
        except TimeoutError:
            if allowed is None:
                await self._postpone(claimed, "the check outlasted the lease")
                return
            answer = Answer(None, "the attempt outlasted its lease", None)
        status = answer.status
        if answer.error is None and status is not None:
            try:
                await self.audit.record(self.disclosures(allowed, claimed, status))
            except AuditUnavailable:
                answer = Answer(
                    status,
                    f"answered HTTP {status}, but the access log could not record the "
                    "disclosure: it is sent again",
                    answer.latency_ms,
                )
            else:
                if await self._delivered((claimed, status, answer.latency_ms or 0)):
                    self.metrics.deliveries.labels("delivered").inc()
                return
        await self._fail(claimed, answer)

    async def _record_delivered(self, answered: list[tuple[Claimed, int, int]]) -> list[bool]:
        """Deliveries answered 2xx, recorded in one statement; whether each claim was still
        this worker's."""
        async with self.sessions.begin() as session:
            mine = await deliveries.delivered_many(session, answered, worker=self.name)
        return [claimed.delivery_id in mine for claimed, _, _ in answered]

    async def _postpone(self, claimed: Claimed, why: str) -> None:
        """Nothing was sent: due again after a backoff, the attempt not counted."""
        settings = self.settings
        retry_in = backoff(
            1, base=settings.webhook_backoff_seconds, ceiling=settings.webhook_backoff_max_seconds
        )
        async with self.sessions.begin() as session:
            await deliveries.postpone(
                session, claimed, worker=self.name, error=f"not attempted: {why}", retry_in=retry_in
            )
        log.warning("delivery not attempted", delivery=claimed.delivery_id, error=why[:200])

    async def _cancel(self, claimed: Claimed, reason: str) -> None:
        async with self.sessions.begin() as session:
            if await deliveries.cancel(session, claimed, worker=self.name, reason=reason):
                self.metrics.deliveries.labels("cancelled").inc()
        log.info(
            "delivery cancelled",
            delivery=claimed.delivery_id,
            subscription=claimed.subscription_id,
            reason=reason.split(":", 1)[0],
        )

    async def _fail(self, claimed: Claimed, answer: Answer) -> None:
        settings = self.settings
        retry_in = backoff(
            claimed.attempts,
            base=settings.webhook_backoff_seconds,
            ceiling=settings.webhook_backoff_max_seconds,
        )
        async with self.sessions.begin() as session:
            outcome = await deliveries.failed(
                session,
                claimed,
                worker=self.name,
                error=answer.error or "failed",
                status=answer.status,
                latency_ms=answer.latency_ms,
                retry_in=retry_in,
                max_attempts=settings.webhook_max_attempts,
            )
        if outcome is not None:
            self.metrics.deliveries.labels(outcome).inc()

    # --- the loops --------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._beats = {"fan-out": now, "delivery": now}
        self._loops = [
            asyncio.create_task(self._fan_out_loop(), name="worker-fan-out"),
            asyncio.create_task(self._delivery_loop(), name="worker-delivery"),
            asyncio.create_task(self._lag_loop(), name="worker-lag"),
        ]
        log.info("worker started", worker=self.name)

    async def stop(self) -> None:
        """Stop claiming; let the attempts under way finish (within the request timeout), then
        leave: what is still held is taken again when its lease ends."""
        self._stopping = True
        self._wake.set()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        if self._inflight:
            _, pending = await asyncio.wait(
                self._inflight, timeout=self.settings.webhook_timeout_seconds + 1
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._checks.stop()
        await self._delivered.stop()
        await self.client.aclose()
        log.info("worker stopped", worker=self.name)

    @property
    def healthy(self) -> bool:
        if self._stopping or not self._loops or any(task.done() for task in self._loops):
            return False
        now = asyncio.get_running_loop().time()
        stale = max(STALE_AFTER_SECONDS, 10 * self.settings.worker_poll_seconds)
        return all(now - beat < stale for beat in self._beats.values())

    def _beat(self, loop_name: str) -> None:
        self._beats[loop_name] = asyncio.get_running_loop().time()

    async def _fan_out_loop(self) -> None:
        poll = self.settings.worker_poll_seconds
        while not self._stopping:
            try:
                made = await self.fan_out_once(send=True)
            except Exception as error:  # the database away: try again after a poll
                log.warning("fan-out pass failed", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(poll)
                continue
            self._beat("fan-out")
            if self._inflight and len(self._inflight) >= self.settings.worker_concurrency:
                # every slot taken: fan out again once one is free
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            elif not made:
                await asyncio.sleep(poll)

    async def _delivery_loop(self) -> None:
        poll = self.settings.worker_poll_seconds
        limit = self.settings.worker_concurrency
        while not self._stopping:
            free = limit - len(self._inflight)
            claimed: list[tuple[Claimed, float]] = []
            if free > 0:
                try:
                    claimed = await self.claim(free)
                except Exception as error:
                    log.warning("claim failed", error=f"{type(error).__name__}: {error}")
                    await asyncio.sleep(poll)
                    continue
                self._beat("delivery")
            else:
                self._beat("delivery")  # busy, not stuck
            for one, deadline in claimed:
                self._spawn(self.attempt(one, deadline))
            if claimed and len(claimed) == free:
                continue  # more may be due
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    def _spawn(self, attempt: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(attempt)
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free

    async def _lag_loop(self) -> None:
        while not self._stopping:
            try:
                async with self.sessions() as session:
                    self.metrics.lag.set(await deliveries.lag_seconds(session))
            except Exception as error:
                log.warning("lag not read", error=f"{type(error).__name__}: {error}")
            await asyncio.sleep(LAG_EVERY_SECONDS)


# --- the process ----------------------------------------------------------------------------


def payload_decider(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Decider:
    """gateway/events/payloads.py's decision with this process's engine and caches (imported
    here: it brings the GraphQL types, which the rest of the command line does without)."""
    from gateway.events.decider import PayloadDecider  # noqa: PLC0415

    return PayloadDecider.of(settings, sessions)


def create_worker_app(
    settings: Settings | None = None,
    *,
    name: str | None = None,
    decider: Callable[[Settings, async_sessionmaker[AsyncSession]], Decider] = payload_decider,
) -> FastAPI:
    """The worker as an ASGI app: the loops run for its lifespan; `/healthz` and `/metrics`."""
    settings = settings or get_settings()
    configure_logging(settings)
    metrics = WorkerMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A fixed pool, no overflow: a connection opened and closed per attempt (TLS
        # negotiation, a new backend) would cost more than waiting for one of these
        engine = create_async_engine(
            settings.async_database_url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=60
        )
        sessions = session_factory(engine)
        audit = AccessLogWriter(settings.libpq_url, fsync=settings.audit_fsync)
        await audit.start()
        worker = Worker(
            settings=settings,
            sessions=sessions,
            decider=decider(settings, sessions),
            audit=audit,
            metrics=metrics,
            name=name,
        )
        app.state.worker = worker
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()
            await audit.stop()
            await engine.dispose()

    app = FastAPI(
        title="Liên Thông worker",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        worker: Worker | None = getattr(request.app.state, "worker", None)
        healthy = worker is not None and worker.healthy
        body: dict[str, Any] = {"status": "ok" if healthy else "unhealthy"}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics", dependencies=[Depends(require_ops)])
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def worker(
    host: str = typer.Option("127.0.0.1", help="Interface of /healthz and /metrics."),
    port: int = typer.Option(8001, min=1, max=65535, help="Port of /healthz and /metrics."),
    name: str | None = typer.Option(
        None, help="The name its leases carry (default: host:pid:random)."
    ),
) -> None:
    """Fan change events out to subscriptions and push them as signed webhooks; run as many as
    needed, on any hosts: they share the work through PostgreSQL (docs/events.md)."""
    app = create_worker_app(get_settings(), name=name)
    uvicorn.run(app, host=host, port=port, access_log=False, server_header=False, lifespan="on")
