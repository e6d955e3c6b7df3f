"""The webhook worker in process, on a committed database (it opens its own connections):
fan-out (one delivery per subscription and event, decided once), signed attempts, retries with
the same bytes, dead letters and redelivery, cancellations (a revoked subscription, a revoked
consent, a suspension), leases shared by two workers, and the worker's own /healthz and
/metrics. The receiver is an httpx MockTransport that verifies each signature with the
`standardwebhooks` package; tests/e2e/test_webhooks.py runs real processes and a real receiver.

Change events are written here as the registries' merges write them (registries/events.py).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from gateway.audit.writer import AccessLogWriter
from gateway.events import deliveries
from gateway.events.decider import PayloadDecider
from gateway.events.fanout import Decide, Decider
from gateway.events.models import Delivery
from gateway.events.worker import Worker, create_worker_app
from gateway.policy.service import grant_consent, load_policy_document, revoke_consent
from lienthong.settings import Env, Settings
from registries.db import create_engine, session_factory
from registries.events import EVENT_TYPES, HORIZON, ChangeEvent
from registries.residents.models import Resident
from tests import clients, factories
from tests.clients import Process

POPULATION = ("steward", "steward:population")
ENTERPRISE = ("steward", "steward:enterprise")
SINCE = "2025-07-01T00:00:00Z"
_names = itertools.count(1)
SETTLE_SECONDS = 600  # another test run's migration may hold a transaction open that long


def _agreement(agency: str, purpose: str, fields: list[str], **more: Any) -> dict[str, Any]:
    return {
        "agency": agency, "purpose": purpose, "type": "Resident", "fields": fields,
        "legal_basis": "Luật Cư trú 2020", "consent_required": False, "via": None,
        "masking": {}, "status": "approved", "valid_from": SINCE, "valid_to": None, **more,
    }  # fmt: skip


# A social-insurance office that is told of deaths and names, a tax office told of names only,
# and a bank that may know a name only with the resident's consent.
POLICY: dict[str, Any] = {
    "agencies": [
        {"client_id": "wk-bhxh", "name": "BHXH (worker)", "kind": "insurance"},
        {"client_id": "wk-thue", "name": "Thuế (worker)", "kind": "tax"},
        {"client_id": "wk-bank", "name": "Ngân hàng (worker)", "kind": "bank"},
    ],
    "purposes": [
        {"code": "WK-BHXH", "title": "Chi trả", "procedure": "Chi trả chế độ"},
        {"code": "WK-THUE", "title": "Thuế", "procedure": "Quản lý thuế"},
        {"code": "WK-VAY", "title": "Vay", "procedure": "Thẩm định vay"},
    ],
    "agreements": [
        _agreement("wk-bhxh", "WK-BHXH", ["id", "fullName", "deceased", "deceasedOn"]),
        _agreement("wk-thue", "WK-THUE", ["id", "fullName"]),
        _agreement("wk-bank", "WK-VAY", ["id", "fullName"], consent_required=True),
    ],
}  # fmt: skip


class Receiver:
    """Webhook endpoints under http://127.0.0.1:9/<path>: each request's signature verified
    with the secret registered for its path, recorded, and answered as told (200 by default)."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.received: dict[str, list[httpx.Request]] = defaultdict(list)
        self.answers: dict[str, int] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path not in self.secrets:
            return httpx.Response(404)
        Webhook(self.secrets[path]).verify(request.content, dict(request.headers))
        self.received[path].append(request)
        status = self.answers.get(path, 200)
        return httpx.Response(status, text="" if status < 300 else "bận, thử lại sau")

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


class World:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, admin: Process, decider: PayloadDecider
    ) -> None:
        self.settings = settings
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self.admin = admin
        self.decider = decider
        self.subscribed: list[str] = []

    async def subscribe(
        self,
        receiver: Receiver,
        agency: str,
        purpose: str,
        types: list[str],
        *,
        approve: bool = True,
    ) -> str:
        """An approved subscription pushed to a path of its own on `receiver`; its path."""
        name = f"t{next(_names)}"
        path = f"/{agency}/{name}"
        proposed = await self.admin.admin(
            "POST", "/subscriptions",
            json={"agency": agency, "purpose": purpose, "name": name, "event_types": types,
                  "endpoint": f"http://127.0.0.1:9{path}"},
        )  # fmt: skip
        assert proposed.status_code == 201, proposed.text
        receiver.secrets[path] = proposed.json()["secret"]
        self.subscribed.append(path)
        await self.decide(path, "approve", "steward-minh", POPULATION)
        return path

    async def decide(
        self, path: str, action: str, steward: str = "steward-minh",
        roles: tuple[str, ...] = POPULATION, note: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        resource = f"/admin/subscriptions{path}"
        etag = (await self.admin.http.get(resource, headers=self.admin.steward())).headers["ETag"]
        answer = await self.admin.http.post(
            f"{resource}/{action}",
            json={"note": note} if note else None,
            headers={**self.admin.steward(steward, roles), "If-Match": etag},
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def settle(self) -> None:
        """Until every transaction begun so far has ended: fan-out reads events below that
        horizon only (registries/events.py), and the cluster is shared with other work."""
        async with self.sessions() as session:
            mark = await session.execute(text("SELECT (pg_current_xact_id()::text)::bigint"))
            xid = mark.scalar_one()
            await session.rollback()
            for _ in range(int(SETTLE_SECONDS / 0.05)):
                below = (await session.execute(select(HORIZON))).scalar_one()
                await session.rollback()
                if below > xid:
                    return
                await asyncio.sleep(0.05)
        raise TimeoutError("a transaction of the cluster stayed open")

    async def fan_out(self, worker: Worker) -> int:
        """What the worker fans out once every event written so far may be."""
        await self.settle()
        return await worker.fan_out_once()

    async def resident(self, **values: Any) -> Resident:
        async with self.sessions.begin() as session:
            return await factories.make_resident(session, **values)

    async def event(self, event_type: str, resident: Resident, sequence: int = 2) -> ChangeEvent:
        """The event a merge writes with the resident's new version, committed."""
        async with self.sessions.begin() as session:
            event = ChangeEvent(
                type=event_type,
                subject_type=EVENT_TYPES[event_type].subject_type,
                subject_id=resident.personal_id,
                fields=list(EVENT_TYPES[event_type].reveals),
                new_version_id=resident.version_id,
                subject_sequence=sequence,
                effective_at=datetime.now(UTC),
                source="etl:test",
            )
            session.add(event)
            await session.flush()
            await session.refresh(event)
            return event

    async def deliveries_of(self, path: str) -> list[Delivery]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(Delivery)
                .where(Delivery.subscription_id == path.strip("/"))
                .order_by(Delivery.delivery_id)
            )
            return list(rows.scalars())

    async def log(self, path: str, status: str | None = None) -> list[dict[str, Any]]:
        answer = await self.admin.admin(
            "GET", f"/subscriptions{path}/deliveries", params={"status": status} if status else {}
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    @asynccontextmanager
    async def worker(
        self, receiver: Receiver, *, decider: Decider | None = None, name: str | None = None
    ) -> AsyncIterator[Worker]:
        audit = AccessLogWriter(self.settings.libpq_url, fsync=False)
        await audit.start()
        worker = Worker(
            settings=self.settings,
            sessions=self.sessions,
            decider=decider or self.decider,
            audit=audit,
            name=name,
            client=receiver.client(),
        )
        try:
            yield worker
        finally:
            await worker.client.aclose()
            await audit.stop()


@pytest.fixture(scope="module")
async def world(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    settings = Settings(
        database_url=committed_database_url,
        home=tmp_path_factory.mktemp("worker-home"),
        webhook_max_attempts=3,
        webhook_backoff_seconds=0.05,
        webhook_backoff_max_seconds=0.1,
        webhook_timeout_seconds=1,
        webhook_lease_seconds=2,
        worker_poll_seconds=0.05,
    )
    engine = create_engine(settings, pool_size=4)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=POLICY, actor="etl")
        async with clients.processes(settings, count=1) as (admin,):
            sessions = session_factory(engine)
            yield World(settings, engine, admin, PayloadDecider.of(settings, sessions))
    finally:
        await engine.dispose()


@pytest.fixture(autouse=True)
async def one_tests_subscriptions(world: World) -> AsyncIterator[None]:
    """Each test's subscriptions revoked after it: the next test's events are not theirs."""
    yield
    while world.subscribed:
        path = world.subscribed.pop()
        resource = f"/admin/subscriptions{path}"
        if (await world.admin.admin("GET", resource[len("/admin") :])).json()[
            "status"
        ] != "revoked":
            await world.decide(path, "revoke", "steward-lan", clients.EVERY_SCOPE, note="xong")


async def _due(world: World, path: str) -> None:
    """Until the path's retried deliveries are due again (the backoff is at most 0.1 s here)."""
    for _ in range(50):
        rows = await world.deliveries_of(path)
        if all(r.next_attempt_at <= datetime.now(UTC) for r in rows if r.status == "failed"):
            return
        await asyncio.sleep(0.05)


async def _access_log(world: World, request_id: str) -> list[dict[str, Any]]:
    async with world.sessions() as session:
        rows = await session.execute(
            text("SELECT agency, subject_id, purpose, fields_given, operation, decision "
                 "FROM access_log WHERE request_id = :id"),
            {"id": request_id},
        )  # fmt: skip
        return [dict(r._mapping) for r in rows]


async def test_an_event_is_decided_once_per_subscription_and_pushed_signed(world: World) -> None:
    receiver = Receiver()
    before = await world.event("resident.name_changed", await world.resident())
    bhxh = await world.subscribe(receiver, "wk-bhxh", "WK-BHXH", ["resident.name_changed"])
    thue = await world.subscribe(receiver, "wk-thue", "WK-THUE",
                                 ["resident.name_changed"])  # fmt: skip
    deaths = await world.subscribe(receiver, "wk-bhxh", "WK-BHXH", ["resident.deceased"])
    resident = await world.resident(full_name="Trần Thị Bình")
    event = await world.event("resident.name_changed", resident, sequence=3)
    async with world.worker(receiver) as worker:
        assert await world.fan_out(worker) == 2  # not the death subscription, not the old event
        assert await world.fan_out(worker) == 0  # nothing twice
        await worker.deliver_once()
    for path in (bhxh, thue):
        (request,) = receiver.received[path]
        assert request.headers["webhook-id"] == str(event.event_id)
        assert request.headers["content-type"] == "application/json"
        body = orjson.loads(request.content)
        assert body["data"] == {"fullName": "Trần Thị Bình"}  # what the type reveals, no more
        assert body["subject"] == {"type": "Resident", "id": resident.personal_id}
        assert body["sequence"] == 3
        (delivery,) = await world.deliveries_of(path)
        assert request.content == delivery.payload  # the stored bytes, as they are
        assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
        assert delivery.latency_ms is not None and delivery.delivered_at is not None
    assert receiver.received[deaths] == []
    assert all(str(before.event_id) != r.headers["webhook-id"]
               for rs in receiver.received.values() for r in rs)  # fmt: skip
    logged = {e["agency"]: e for e in await _access_log(world, str(event.event_id))}
    assert set(logged) == {"wk-bhxh", "wk-thue"}
    entry = logged["wk-thue"]
    assert (entry["subject_id"], entry["purpose"]) == (resident.personal_id, "WK-THUE")
    assert entry["fields_given"] == ["fullName", "id"]
    assert entry["operation"] == "webhook:resident.name_changed"
    assert entry["decision"]["channel"] == "push"
    assert entry["decision"]["outcome"] == "disclosed"
    (delivered,) = await world.log(thue)
    assert delivered["status"] == "delivered"
    assert delivered["event_id"] == str(event.event_id)
    assert delivered["event_type"] == "resident.name_changed"
    assert "payload" not in delivered and resident.personal_id not in str(delivered)


async def test_a_failing_receiver_gets_the_same_bytes_until_dead_then_a_steward_redelivers(
    world: World,
) -> None:
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-thue", "WK-THUE", ["resident.name_changed"])
    event = await world.event("resident.name_changed", await world.resident())
    receiver.answers[path] = 503
    async with world.worker(receiver) as worker:
        await world.fan_out(worker)
        await worker.deliver_once()
        (failed,) = await world.deliveries_of(path)
        assert (failed.status, failed.attempts, failed.last_status) == ("failed", 1, 503)
        assert failed.last_error == "HTTP 503: bận, thử lại sau"
        for _ in range(2):
            await _due(world, path)
            await worker.deliver_once()
    (dead,) = await world.deliveries_of(path)
    assert (dead.status, dead.attempts) == ("dead", 3)  # LIENTHONG_WEBHOOK_MAX_ATTEMPTS here
    sent = receiver.received[path]
    assert len(sent) == 3
    assert {r.content for r in sent} == {dead.payload}
    assert {r.headers["webhook-id"] for r in sent} == {str(event.event_id)}
    assert await _access_log(world, str(event.event_id)) == []  # nothing was received
    (logged,) = await world.log(path, "dead")
    assert logged["redeliverable"] is True and logged["last_status"] == 503
    assert await world.log(path, "delivered") == []

    redeliver = f"/admin/subscriptions{path}/deliveries/{dead.delivery_id}/redeliver"
    elsewhere = await world.admin.http.post(
        redeliver, headers=world.admin.steward("steward-thu", ENTERPRISE)
    )
    assert clients.problem(elsewhere, 403, "FORBIDDEN")["reason"] == "scope"
    # every subscription's log in one place, by agency, subscription or event
    listed = await world.admin.admin(
        "GET", "/deliveries", params={"agency": "wk-thue", "status": "dead"}
    )
    assert listed.status_code == 200, listed.text
    assert dead.delivery_id in {e["delivery_id"] for e in listed.json()["items"]}
    by_event = await world.admin.admin(
        "GET", "/deliveries", params={"event_id": str(event.event_id)}
    )
    ((entry,),) = [by_event.json()["items"]]
    assert (entry["subscription_id"], entry["status"]) == (path.strip("/"), "dead")
    bad = await world.admin.admin("GET", "/deliveries", params={"subscription": "a/b/c"})
    clients.problem(bad, 422, "BAD_USER_INPUT")
    nowhere = await world.admin.http.post(
        "/admin/deliveries/999999999/redeliver", headers=world.admin.steward()
    )
    clients.problem(nowhere, 404, "NOT_FOUND")
    again = await world.admin.http.post(  # by the delivery's id alone
        f"/admin/deliveries/{dead.delivery_id}/redeliver",
        headers=world.admin.steward("steward-minh", POPULATION),
    )
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    receiver.answers[path] = 204
    async with world.worker(receiver) as worker:
        await worker.deliver_once()
    (delivered,) = await world.deliveries_of(path)
    assert (delivered.status, delivered.last_status) == ("delivered", 204)
    assert receiver.received[path][-1].content == dead.payload
    assert len(await _access_log(world, str(event.event_id))) == 1
    twice = await world.admin.http.post(redeliver, headers=world.admin.steward())
    clients.problem(twice, 409, "CONFLICT")
    missing = await world.admin.http.post(
        f"/admin/subscriptions{path}/deliveries/999999999/redeliver", headers=world.admin.steward()
    )
    clients.problem(missing, 404, "NOT_FOUND")


async def test_revoking_the_subscription_cancels_what_is_not_yet_delivered(world: World) -> None:
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-thue", "WK-THUE", ["resident.name_changed"])
    receiver.answers[path] = 500
    await world.event("resident.name_changed", await world.resident())
    async with world.worker(receiver) as worker:
        await world.fan_out(worker)
        await worker.deliver_once()
        await world.decide(path, "revoke", "steward-lan", clients.EVERY_SCOPE,
                           note="cơ quan không còn nhu cầu")  # fmt: skip
        (cancelled,) = await world.deliveries_of(path)
        assert cancelled.status == "cancelled"
        assert cancelled.cancelled_reason is not None
        assert cancelled.cancelled_reason.startswith("subscription_revoked:")
        await world.event("resident.name_changed", await world.resident())
        assert await world.fan_out(worker) == 0  # a revoked subscription is sent nothing more
        await _due(world, path)
        await worker.deliver_once()
    assert len(receiver.received[path]) == 1
    (logged,) = await world.log(path, "cancelled")
    assert logged["redeliverable"] is False
    refused = await world.admin.http.post(
        f"/admin/subscriptions{path}/deliveries/{logged['delivery_id']}/redeliver",
        headers=world.admin.steward(),
    )
    clients.problem(refused, 409, "CONFLICT")


async def test_a_revoked_consent_cancels_the_delivery_before_its_next_attempt(
    world: World,
) -> None:
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-bank", "WK-VAY", ["resident.name_changed"])
    consenting = await world.resident(full_name="Lê Văn Cường")
    silent = await world.resident(full_name="Đỗ Thị Hà")
    async with world.sessions.begin() as session:
        consent = await grant_consent(
            session=session, subject_id=consenting.personal_id, agency="wk-bank",
            purpose="WK-VAY", fields=["id", "fullName"],
            expires_at=datetime.now(UTC) + timedelta(days=30),
        )  # fmt: skip
    await world.event("resident.name_changed", consenting)
    await world.event("resident.name_changed", silent)  # consented to nothing: never sent
    receiver.answers[path] = 502
    async with world.worker(receiver) as worker:
        assert await world.fan_out(worker) == 1
        await worker.deliver_once()
        async with world.sessions.begin() as session:
            await revoke_consent(session=session, consent_id=consent.consent_id,
                                 subject_id=consenting.personal_id)  # fmt: skip
        await _due(world, path)
        await worker.deliver_once()
    (delivery,) = await world.deliveries_of(path)
    assert delivery.status == "cancelled"
    assert (delivery.cancelled_reason or "").startswith("not_allowed:")
    assert delivery.attempts == 2  # the cancelled attempt was claimed, never sent
    (only,) = receiver.received[path]
    assert silent.personal_id.encode() not in only.content
    assert worker.metrics.fanned_out.labels("refused")._value.get() == 1


async def test_a_suspended_subscription_is_sent_nothing_and_a_steward_may_send_it_again(
    world: World,
) -> None:
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-thue", "WK-THUE", ["resident.name_changed"])
    first = await world.event("resident.name_changed", await world.resident())
    async with world.worker(receiver) as worker:
        await world.fan_out(worker)
        await world.decide(path, "suspend", "steward-lan", clients.EVERY_SCOPE,
                           note="đầu nhận không phản hồi")  # fmt: skip
        await worker.deliver_once()
        (cancelled,) = await world.deliveries_of(path)
        assert (cancelled.cancelled_reason or "").startswith("subscription_suspended:")
        assert "đầu nhận không phản hồi" in (cancelled.cancelled_reason or "")
        await world.event("resident.name_changed", await world.resident())
        assert await world.fan_out(worker) == 0  # not while suspended
        await world.decide(path, "resubmit", "steward-lan", clients.EVERY_SCOPE)
        await world.decide(path, "approve")
        # in force again from its new approval, as the feed reads it: not what it missed
        assert await world.fan_out(worker) == 0
        later = await world.event("resident.name_changed", await world.resident())
        assert await world.fan_out(worker) == 1
        (redeliverable,) = await world.log(path, "cancelled")
        assert redeliverable["redeliverable"] is True
        sent = await world.admin.http.post(
            f"/admin/subscriptions{path}/deliveries/{cancelled.delivery_id}/redeliver",
            headers=world.admin.steward(),
        )
        assert sent.status_code == 200, sent.text
        await worker.deliver_once()
    ids = sorted(r.headers["webhook-id"] for r in receiver.received[path])
    assert ids == sorted([str(first.event_id), str(later.event_id)])
    assert [d.status for d in await world.deliveries_of(path)] == ["delivered", "delivered"]


async def test_two_workers_never_hold_one_delivery_and_a_lapsed_lease_is_taken_over(
    world: World,
) -> None:
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-thue", "WK-THUE", ["resident.name_changed"])
    for _ in range(6):
        await world.event("resident.name_changed", await world.resident())
    async with (
        world.worker(receiver, name="worker-a") as a,
        world.worker(receiver, name="worker-b") as b,
    ):
        await world.settle()
        made = await asyncio.gather(a.fan_out_once(), b.fan_out_once())
        assert sum(made) == 6  # one fanned the subscription out, the other skipped it
        ours = {d.delivery_id for d in await world.deliveries_of(path)}
        held_a = [c for c, _ in await a.claim(100) if c.delivery_id in ours]
        held_b = [c for c, _ in await b.claim(100) if c.delivery_id in ours]
        assert len(held_a) == 6 and held_b == []  # leased to a: b takes none of them
        await asyncio.sleep(world.settings.webhook_lease_seconds + 0.2)  # a is gone, silently
        taken = [c for c, _ in await b.claim(100) if c.delivery_id in ours]
        assert {c.delivery_id for c in taken} == ours
        assert {c.attempts for c in taken} == {2}  # a's claim counted as an attempt
        async with world.sessions.begin() as session:  # a comes back: its claim is not its own
            assert not await deliveries.delivered(
                session, held_a[0], worker="worker-a", status=200, latency_ms=1
            )
        await asyncio.gather(*(b.attempt(c, float("inf")) for c in taken))
    assert {d.status for d in await world.deliveries_of(path)} == {"delivered"}
    assert len(receiver.received[path]) == 6


class Unavailable:
    """A decider whose policy engine is down."""

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Decide]:
        async def decide(events: Sequence[ChangeEvent], subscription: Any) -> list[Any]:
            raise RuntimeError("the policy engine is unavailable")

        yield decide


async def test_a_check_that_cannot_be_made_sends_nothing_and_counts_no_attempt(
    world: World,
) -> None:
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-thue", "WK-THUE", ["resident.name_changed"])
    await world.event("resident.name_changed", await world.resident())
    async with world.worker(receiver) as worker:
        await world.fan_out(worker)
    async with world.worker(receiver, decider=Unavailable()) as down:
        await down.deliver_once()
        assert await world.fan_out(down) == 0
    (delivery,) = await world.deliveries_of(path)
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert (delivery.last_error or "").startswith("not attempted: RuntimeError")
    assert delivery.next_attempt_at > delivery.created_at  # after a backoff
    assert receiver.received[path] == []


async def test_the_worker_answers_health_and_metrics_on_its_own_port(world: World) -> None:
    def decider(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Decider:
        return world.decider

    app = create_worker_app(world.settings, name="worker-probe", decider=decider)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w") as http,
    ):
        health = await http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        text_ = (await http.get("/metrics")).text
        for name in ("lienthong_webhook_deliveries_total{outcome=\"delivered\"}",
                     "lienthong_webhook_attempts_total", "lienthong_webhook_lag_seconds",
                     "lienthong_events_fanned_out_total{outcome=\"delivery\"}"):  # fmt: skip
            assert name in text_
        app.state.settings = world.settings.model_copy(update={"env": Env.PROD})
        assert (await http.get("/metrics")).status_code == 401  # no operations token
        await app.state.worker.stop()
        assert (await http.get("/healthz")).status_code == 503


class Counting:
    """The real decider, counting its decisions."""

    def __init__(self, decider: Decider) -> None:
        self.decider = decider
        self.decisions = 0

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Decide]:
        async with self.decider.reading() as decide:

            async def counted(events: Sequence[ChangeEvent], subscription: Any) -> Any:
                self.decisions += len(events)
                return await decide(events, subscription)

            yield counted


async def test_what_a_worker_fans_out_it_sends_at_once_on_the_decision_just_made(
    world: World,
) -> None:
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-thue", "WK-THUE", ["resident.name_changed"])
    events = [await world.event("resident.name_changed", await world.resident()) for _ in "ab"]
    counting = Counting(world.decider)
    async with world.worker(receiver, decider=counting) as worker:
        await world.settle()
        assert await worker.fan_out_once(send=True) == 2
        await asyncio.gather(*worker._inflight)
    assert counting.decisions == 2  # one each: made, then sent, on the same decision
    assert sorted(r.headers["webhook-id"] for r in receiver.received[path]) == sorted(
        str(e.event_id) for e in events
    )
    made = await world.deliveries_of(path)
    assert [(d.status, d.attempts, d.locked_by) for d in made] == [("delivered", 1, None)] * 2
    for delivery in made:
        assert len(await _access_log(world, str(delivery.event_id))) == 1


async def test_a_pass_takes_no_more_events_than_the_worker_can_send_at_once(world: World) -> None:
    """Five events, two free slots: the pass decides two and sends them on that decision; the
    other three are left for the next pass (or another worker), not decided twice."""
    receiver = Receiver()
    path = await world.subscribe(receiver, "wk-thue", "WK-THUE", ["resident.name_changed"])
    for _ in range(5):
        await world.event("resident.name_changed", await world.resident())
    counting = Counting(world.decider)
    world.settings = world.settings.model_copy(update={"worker_concurrency": 2})
    async with world.worker(receiver, decider=counting) as worker:
        await world.settle()
        held: list[Any] = []  # the attempts, not started yet
        worker._spawn = held.append  # type: ignore[method-assign, assignment]
        assert await worker.fan_out_once(send=True) == 2
        assert counting.decisions == 2
        async with world.sessions() as session:  # leased from the database's clock
            leases = (
                await session.execute(
                    select(Delivery.locked_by, Delivery.locked_until > text("now()")).where(
                        Delivery.subscription_id == path.lstrip("/")
                    )
                )
            ).all()
        assert leases == [(worker.name, True)] * 2
        del worker._spawn
        await asyncio.gather(*held)
        assert len(await world.deliveries_of(path)) == 2
        while await worker.fan_out_once(send=True):
            await asyncio.gather(*worker._inflight)
    assert counting.decisions == 5  # each event decided once, made and sent on it
    made = await world.deliveries_of(path)
    assert [(d.status, d.attempts) for d in made] == [("delivered", 1)] * 5
    assert len(receiver.received[path]) == 5


async def test_deliveries_to_one_receiver_keep_their_connection(world: World) -> None:
    """A worker reads each answer to its end, so that the next delivery to the same receiver
    goes over the same connection (a TLS handshake per event otherwise); an answer's text is
    kept as the error of a failed attempt."""
    connections, requests = 0, 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections, requests
        connections += 1
        while head := await reader.readuntil(b"\r\n\r\n"):
            size = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:"))  # fmt: skip
            await reader.readexactly(size)
            requests += 1
            body = b"ok" if requests < 3 else b"full"
            status = b"200 OK" if requests < 3 else b"503 Service Unavailable"
            writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: %d\r\n\r\n" % len(body)
                         + body)  # fmt: skip
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    audit = AccessLogWriter(world.settings.libpq_url, fsync=False)
    worker = Worker(settings=world.settings, sessions=world.sessions, decider=world.decider,
                    audit=audit)  # fmt: skip
    try:
        answers = [
            await worker.post(
                f"http://127.0.0.1:{port}/hook",
                "whsec_" + "A" * 32,
                deliveries.Claimed(
                    delivery_id=n,
                    subscription_id="a/b",
                    event_id=uuid.uuid4(),
                    event_seq=n,
                    payload=b'{"n": %d}' % n,
                    fields_given=(),
                    fields_masked=(),
                    attempts=1,
                ),
            )
            for n in range(3)
        ]
    finally:
        await worker.client.aclose()
        server.close()
    assert [(a.status, a.error) for a in answers] == [
        (200, None), (200, None), (503, "HTTP 503: full")]  # fmt: skip
    assert (connections, requests) == (1, 3)
