"""Streaming replication on loopback, for real: a primary and a `pg_basebackup -R` replica of
the Debian PostgreSQL, and the gateway (the whole app, lifespan included) configured with
`LIENTHONG_DATABASE_REPLICA_URLS`.

- registry reads come from the replica (with its replay paused, a row committed on the primary
  is not seen), while consents are read on the primary (a grant and a revocation hold at once);
- a replica behind the lag bound leaves rotation, and returns once it has caught up;
- failover: stopping the replica keeps the gateway answering from the primary; stopping the
  primary makes every request that needs the access log fail closed (503 `UNAVAILABLE`, data
  null) until it is back; every acknowledged disclosure is in the access log afterwards, and
  `lienthong audit verify` finds the chains intact. The times seen are printed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.cluster import EmbeddedCluster
from lienthong.settings import Settings
from lienthong.standby import StandbyCluster, replicated_pair
from registries.db import create_engine, session_factory
from registries.routing import Replica
from tests import factories
from tests.graphql_world import PLANS_METRIC, SAMPLE_POLICY
from tests.net import LIENTHONG, free_port

pytestmark = pytest.mark.slow

RESIDENT = "query($id: ID!) { resident(id: $id) { fullName } }"
PREFILL = """query($id: ID!) { prefill(form: "CT01", subject: $id) { fields { key value } } }"""


Pair = tuple[EmbeddedCluster, StandbyCluster]


@dataclass
class Replicated:
    primary: EmbeddedCluster
    replica: StandbyCluster
    resident: str  # committed before the tests start, so on both servers
    home: Path


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Pair]]:
    home = tmp_path_factory.mktemp("replication")
    with replicated_pair(home, primary_port=free_port(), replica_port=free_port()) as pair:
        yield home, pair


@pytest.fixture(scope="module")
async def replicated(clusters: tuple[Path, Pair]) -> Replicated:
    home, (primary, replica) = clusters
    resident = await _new_resident(primary, full_name="Đặng Thị Thu", policy=True)
    return Replicated(primary, replica, resident, home)


async def _new_resident(primary: EmbeddedCluster, *, full_name: str, policy: bool = False) -> str:
    """A resident committed on the primary (and, with `policy`, the sample agreements)."""
    engine = create_engine(primary.settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            if policy:
                await load_policy_document(session=session, document=SAMPLE_POLICY, actor="tests")
            return (await factories.make_resident(session, full_name=full_name)).personal_id
    finally:
        await engine.dispose()


def _replay(replica: StandbyCluster, *, paused: bool) -> None:
    with replica.admin_connection() as connection:
        connection.execute(f"SELECT pg_wal_replay_{'pause' if paused else 'resume'}()")


class Gateway:
    def __init__(self, settings: Settings, client: httpx.AsyncClient, replica: Replica) -> None:
        self.issuer = DevIssuer(settings)
        self.client = client
        self.replica = replica  # the routing state of the one replica configured

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        agency: str = "motcua-danang",
        purpose: str | None = "CT01",
        citizen: str | None = None,
    ) -> httpx.Response:
        roles = ("citizen",) if citizen else ("agency",)
        token = self.issuer.mint(agency=agency, roles=roles, citizen_id=citizen)
        headers = {"Authorization": f"Bearer {token}"}
        if purpose:
            headers["X-Purpose"] = purpose
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        answer = await self.post(query, variables, **kw)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def prefilled_name(self, personal_id: str) -> str | None:
        """The CT01 prefill's full name, sent as the trusted document (answered by its plan)."""
        token = self.issuer.mint(agency="motcua-danang", roles=("agency",), citizen_id=None)
        answer = await self.client.post(
            "/graphql",
            json={"operationName": "PrefillCT01", "variables": {"subject": personal_id}},
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "CT01"},
        )
        assert answer.status_code == 200, answer.text
        prefill = answer.json()["data"]["prefill"]
        fields = [] if prefill is None else prefill["fields"]
        return next((f["value"] for f in fields if f["key"] == "ho_ten"), None)

    async def answered_by_plans(self) -> int:
        metrics = (await self.client.get("/metrics")).text
        return sum(int(n) for by, n in PLANS_METRIC.findall(metrics) if by == "plan")

    async def resident_name(self, personal_id: str) -> str | None:
        found = (await self.data(RESIDENT, {"id": personal_id}))["data"]["resident"]
        return None if found is None else str(found["fullName"])


@asynccontextmanager
async def _gateway(world: Replicated, **changes: Any) -> AsyncIterator[Gateway]:
    settings = Settings(
        database_url=world.primary.settings.libpq_url,
        database_replica_urls=world.replica.settings.libpq_url,
        home=world.home / "gateway",
        database_replica_check_seconds=0.2,
        **changes,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
    ):
        replicas = app.state.services.replicas
        assert replicas is not None
        yield Gateway(settings, client, replicas.replicas[0])


async def _until(condition: Callable[[], Awaitable[bool]], limit: float = 15.0) -> float:
    """Seconds until `await condition()` is true; fails the test past `limit` seconds."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > limit:
            pytest.fail(f"still not true after {limit:.0f}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_registry_reads_come_from_the_replica_and_consents_from_the_primary(
    replicated: Replicated,
) -> None:
    async with _gateway(replicated, database_replica_max_lag_seconds=600) as gateway:
        assert gateway.replica.in_rotation, gateway.replica.reason
        _replay(replicated.replica, paused=True)
        try:
            newcomer = await _new_resident(replicated.primary, full_name="Vũ Văn Mới")
            # the replica has not replayed it: the gateway reads the registry there
            assert await gateway.resident_name(newcomer) is None
            assert await gateway.resident_name(replicated.resident) == "Đặng Thị Thu"
            # so do the compiled plans of trusted documents
            planned = await gateway.answered_by_plans()
            assert await gateway.prefilled_name(newcomer) is None
            assert await gateway.prefilled_name(replicated.resident) == "Đặng Thị Thu"
            # the newcomer has no row there to confirm the plan's policy version: generic
            assert await gateway.answered_by_plans() == planned + 1
            assert gateway.replica.in_rotation

            # consents are read on the primary: the grant holds at once, and so does the revoke
            citizen = replicated.resident
            bank = {"agency": "nganhang-abc", "purpose": "TD-VAY"}
            refused = await gateway.data(RESIDENT, {"id": citizen}, **bank)
            assert refused["data"]["resident"] is None
            expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
            granted = await gateway.data(
                """mutation($e: DateTime!) { grantConsent(agency: "nganhang-abc",
                purpose: "TD-VAY", fields: ["fullName"], expiresAt: $e) { id } }""",
                {"e": expires},
                purpose=None,
                citizen=citizen,
            )
            consent = granted["data"]["grantConsent"]["id"]
            mine = await gateway.data("{ myConsents { id } }", purpose=None, citizen=citizen)
            assert {"id": consent} in mine["data"]["myConsents"]
            allowed = await gateway.data(RESIDENT, {"id": citizen}, **bank)
            assert allowed["data"]["resident"] == {"fullName": "Đặng Thị Thu"}
            await gateway.data(
                "mutation($id: ID!) { revokeConsent(id: $id) { id } }",
                {"id": consent},
                purpose=None,
                citizen=citizen,
            )
            again = await gateway.data(RESIDENT, {"id": citizen}, **bank)
            assert again["data"]["resident"] is None
            assert again["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        finally:
            _replay(replicated.replica, paused=False)

        async def replayed() -> bool:
            return await gateway.resident_name(newcomer) == "Vũ Văn Mới"

        await _until(replayed)


async def test_a_replica_behind_the_lag_bound_leaves_rotation_until_it_catches_up(
    replicated: Replicated,
) -> None:
    async with _gateway(replicated, database_replica_max_lag_seconds=1.0) as gateway:
        assert gateway.replica.in_rotation
        _replay(replicated.replica, paused=True)
        try:
            newcomer = await _new_resident(replicated.primary, full_name="Lý Thị Trễ")

            async def from_the_primary() -> bool:
                return await gateway.resident_name(newcomer) == "Lý Thị Trễ"

            await _until(from_the_primary)
            assert not gateway.replica.in_rotation
            assert gateway.replica.reason.startswith("lag")
        finally:
            _replay(replicated.replica, paused=False)

        async def back() -> bool:
            return gateway.replica.in_rotation

        await _until(back)
        assert gateway.replica.lag_seconds == 0.0


@dataclass
class Outcome:
    sent: float
    received: float
    status: int
    request_id: str
    disclosed: bool  # 200 with the subject's data: an acknowledged access-log entry
    code: str | None
    data_null: bool


async def _load(
    gateway: Gateway, subject: str, outcomes: list[Outcome], stop: asyncio.Event
) -> None:
    """One client sending CT01 prefills back to back until told to stop."""
    while not stop.is_set():
        sent = time.monotonic()
        answer = await gateway.post(PREFILL, {"id": subject})
        body = answer.json()
        data = body.get("data")
        disclosed = bool(answer.status_code == 200 and data and data["prefill"])
        errors = body.get("errors") or [{}]
        outcomes.append(
            Outcome(
                sent=sent,
                received=time.monotonic(),
                status=answer.status_code,
                request_id=answer.headers["x-request-id"],
                disclosed=disclosed,
                code=None if disclosed else errors[0].get("extensions", {}).get("code"),
                data_null=data is None,
            )
        )
        if data is None:
            await asyncio.sleep(0.05)  # an outage: do not spin


async def test_failover_replica_then_primary_no_acknowledged_entry_lost(
    replicated: Replicated, capsys: pytest.CaptureFixture[str]
) -> None:
    primary, replica = replicated.primary, replicated.replica
    outcomes: list[Outcome] = []
    stop = asyncio.Event()
    async with _gateway(replicated) as gateway:
        assert gateway.replica.in_rotation
        clients = [
            asyncio.create_task(_load(gateway, replicated.resident, outcomes, stop))
            for _ in range(2)
        ]
        try:
            await asyncio.sleep(1.0)
            replica_stopped = time.monotonic()
            await asyncio.to_thread(replica.down)
            replica_down_took = time.monotonic() - replica_stopped

            async def replica_out() -> bool:
                return not gateway.replica.in_rotation

            await _until(replica_out)
            replica_out_after = gateway.replica.changed_at - replica_stopped
            await asyncio.sleep(1.0)

            replica_restarted = time.monotonic()
            await asyncio.to_thread(replica.up)

            async def replica_back() -> bool:
                return gateway.replica.in_rotation

            await _until(replica_back)
            replica_back_after = time.monotonic() - replica_restarted
            await asyncio.sleep(0.5)

            # The replica could still serve registry reads, but nothing may be disclosed
            # without its access-log entry, and decisions need the primary's policy data.
            primary_stopped = time.monotonic()
            await asyncio.to_thread(primary.down)
            await asyncio.sleep(1.5)
            assert gateway.replica.in_rotation
            during = await gateway.client.get("/readyz")
            assert during.status_code == 503
            public = await gateway.data('{ adminUnit(code: "48") { name } }', purpose=None)
            assert public["data"]["adminUnit"]["name"] == "Thành phố Đà Nẵng"  # no personal data

            primary_started = time.monotonic()
            await asyncio.to_thread(primary.up)

            async def answering() -> bool:
                return any(o.disclosed and o.sent > primary_started for o in outcomes)

            await _until(answering)
            recovered_after = (
                min(o.received for o in outcomes if o.disclosed and o.sent > primary_started)
                - primary_started
            )
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.gather(*clients)
        assert (await gateway.client.get("/readyz")).status_code == 200

    # answered before the primary began to stop: one in flight then may rightly fail closed
    while_replica_stops = [
        o for o in outcomes if replica_stopped <= o.sent and o.received < primary_stopped
    ]
    assert while_replica_stops
    assert all(o.disclosed for o in while_replica_stops), "the primary must answer for it"
    slowest_then = max(o.received - o.sent for o in while_replica_stops)

    while_primary_down = [
        o for o in outcomes if primary_stopped + 0.5 <= o.sent and o.received < primary_started
    ]
    assert while_primary_down
    assert all(o.status == 503 and o.code == "UNAVAILABLE" for o in while_primary_down)
    primary_down_for = primary_started - primary_stopped
    refused = [o for o in outcomes if not o.disclosed]
    assert all(o.status == 503 and o.code == "UNAVAILABLE" and o.data_null for o in refused)

    acknowledged = {o.request_id for o in outcomes if o.disclosed}
    with psycopg.connect(primary.settings.libpq_url) as connection:
        logged = {
            row[0]
            for row in connection.execute(
                "SELECT request_id FROM access_log WHERE request_id = ANY(%s)",
                (sorted(acknowledged),),
            )
        }
    assert acknowledged - logged == set(), "an acknowledged disclosure is missing from the log"
    verify = await asyncio.create_subprocess_exec(
        str(LIENTHONG), "audit", "verify",
        # its own state directory: checkpoints are kept per database name, and another
        # cluster's `lienthong` database may have left some in the default one
        env={**os.environ, "LIENTHONG_DATABASE_URL": primary.settings.libpq_url,
             "LIENTHONG_HOME": str(replicated.home / "verify")},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, report = await verify.communicate()
    assert verify.returncode == 0, report.decode()
    assert "intact" in report.decode()

    with capsys.disabled():
        print(
            f"\nfailover on loopback ({len(outcomes)} CT01 prefills, {len(acknowledged)} "
            f"acknowledged, {len(refused)} refused UNAVAILABLE):\n"
            f"  replica stopped (pg_ctl stop -m fast, {replica_down_took:.2f}s): out of rotation"
            f" after {replica_out_after:.2f}s, 0 failed requests, slowest "
            f"{slowest_then * 1000:.0f} ms\n"
            f"  replica restarted: in rotation {replica_back_after:.2f}s after pg_ctl start began\n"
            f"  primary stopped {primary_down_for:.2f}s: {len(while_primary_down)} requests "
            f"refused 503 UNAVAILABLE (data null)\n"
            f"  primary back: first disclosure {recovered_after:.2f}s after pg_ctl start began"
        )
