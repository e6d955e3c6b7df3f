"""Webhooks end to end: a real `lienthong serve` (the stewards' admin API, a citizen's consents),
real `lienthong worker` processes, change events written by the real ETL loading changed
resident exports, and a real HTTP receiver on loopback that verifies every signature with the
`standardwebhooks` package, records each body, and can be told to fail, stall or be down.

- Each subscriber receives exactly what its agreement allows, signed with its own secret; a
  refused field never appears in any payload; an agency not granted deaths never receives a
  `resident.deceased` (it cannot even subscribe to it).
- A revoked consent cancels the deliveries not yet made.
- A retry resends identical bytes under the same `webhook-id`.
- A receiver down for a while gets every event once it is back, each with its subject's version
  sequence.
- Two workers, one killed (SIGKILL) while the receiver stalls its request: the other takes the
  delivery when the lease ends; nothing is lost, and no delivery is ever attempted twice at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from etl import pipeline
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import clients
from tests.e2e.conftest import SAMPLE_POLICY
from tests.functional.loads import person, resident, write
from tests.net import LIENTHONG, free_port, lienthong_serve

POPULATION = ("steward", "steward:population")
BORN = date(1975, 6, 1)
WAIT_SECONDS = 600  # the database cluster is shared: another run's long transaction holds the
# feed's horizon (gateway/events/fanout.py) as long as it runs
LEASE_SECONDS = 5
STALL_SECONDS = 1.5
WORKER_ENV = {
    "LIENTHONG_ENV": "dev",
    "LIENTHONG_AUDIT_FSYNC": "false",
    "LIENTHONG_WEBHOOK_TIMEOUT_SECONDS": "2",
    "LIENTHONG_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
    "LIENTHONG_WEBHOOK_BACKOFF_SECONDS": "0.2",
    "LIENTHONG_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
    "LIENTHONG_WEBHOOK_MAX_ATTEMPTS": "100",
    "LIENTHONG_WORKER_POLL_SECONDS": "0.1",
}


def _agreement(agency: str, purpose: str, fields: list[str], **more: Any) -> dict[str, Any]:
    return {
        "agency": agency, "purpose": purpose, "type": "Resident", "fields": fields,
        "legal_basis": "Luật Bảo hiểm xã hội 2024", "consent_required": False, "via": None,
        "masking": {}, "status": "approved", "valid_from": "2025-07-01T00:00:00Z",
        "valid_to": None, **more,
    }  # fmt: skip


# The sample agencies (the one-stop centre sees names and addresses, not deaths), and two of
# this module's: a social-insurance office told of moves, names and deaths (the date of death
# as its year only), and a bank that may know a name only with the resident's consent.
BHXH, ONE_STOP, BANK = "bhxh-danang", "motcua-danang", "nganhang-xyz"
POLICY = {
    "agencies": [
        *SAMPLE_POLICY["agencies"],
        {"client_id": BHXH, "name": "Bảo hiểm xã hội thành phố Đà Nẵng", "kind": "insurance"},
        {"client_id": BANK, "name": "Ngân hàng XYZ", "kind": "bank"},
    ],
    "purposes": [
        *SAMPLE_POLICY["purposes"],
        {"code": "BHXH-CHI", "title": "Chi trả chế độ", "procedure": "Chi trả lương hưu"},
        {"code": "VAY-XYZ", "title": "Cho vay", "procedure": "Thẩm định khoản vay"},
    ],
    "agreements": [
        *SAMPLE_POLICY["agreements"],
        _agreement(BHXH, "BHXH-CHI", ["id", "fullName", "permanentAddress", "temporaryAddress",
                                      "deceased", "deceasedOn"],
                   masking={"deceasedOn": "year_only"}),
        _agreement(BANK, "VAY-XYZ", ["id", "fullName"], consent_required=True),
    ],
}  # fmt: skip
PURPOSES = {BHXH: "BHXH-CHI", ONE_STOP: "CT01", BANK: "VAY-XYZ"}


@dataclass
class Received:
    path: str
    event_id: str
    body: bytes
    headers: dict[str, str]
    verified: bool
    status: int  # what the receiver answered


class Receiver:
    """A webhook receiver on a loopback port: `secrets` by path; what it is sent, in `received`.
    `failures[path]`: how many requests to answer 500 before answering 200; `stall`: paths whose
    first request of each event waits for `release` (STALL_SECONDS at most); `down()` / `up()`
    close and reopen the port. `most_at_once`: per event, the most requests it had open at once.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secrets: dict[str, str] = {}
        self.received: list[Received] = []
        self.failures: dict[str, int] = {}
        self.stall: set[str] = set()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.stalled_ids: list[str] = []  # in the order they came
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("content-length", "0")))
        path, event_id = request.path, request.headers.get("webhook-id", "")
        try:
            Webhook(self.secrets[path]).verify(body, dict(request.headers.items()))
            verified = True
        except (KeyError, WebhookVerificationError):
            verified = False
        with self._lock:
            self._in_flight[event_id] += 1
            self.most_at_once[event_id] = max(
                self.most_at_once[event_id], self._in_flight[event_id]
            )
            status = 200 if verified else 401
            if verified and self.failures.get(path, 0) > 0:
                self.failures[path] -= 1
                status = 500
            stall = path in self.stall and event_id not in self.stalled_ids
            if stall:
                self.stalled_ids.append(event_id)
        try:
            if stall:  # shorter than the workers' request timeout: a live worker still waits
                self.stalled.set()
                self.release.wait(STALL_SECONDS)
            with self._lock:
                self.received.append(
                    Received(path, event_id, body, dict(request.headers.items()), verified, status)
                )
            request.send_response(status)
            request.send_header("content-length", "0")
            request.end_headers()
        except OSError:
            pass  # the worker is gone (killed): nobody reads the answer
        finally:
            with self._lock:
                self._in_flight[event_id] -= 1

    def of(self, path: str, *, accepted: bool = True) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path and (r.status < 300) == accepted]


@dataclass
class World:
    settings: Settings
    env: dict[str, str]
    gateway: str
    issuer: DevIssuer
    receiver: Receiver
    folder: Path
    residents: list[dict[str, str]]  # the registry's first fill, as exported
    subscribed: list[str]

    def take(self, count: int) -> list[dict[str, str]]:
        """Residents of the first fill no other test changes."""
        taken, self.residents = self.residents[:count], self.residents[count:]
        return taken

    def load(self, rows: list[dict[str, str]]) -> int:
        """A changed export of these residents through the real ETL; its run id."""
        path = write(self.folder / f"export-{time.monotonic_ns()}.csv", rows)
        report = pipeline.load(
            settings=self.settings, target="residents", path=path, accept_changes=True
        )
        return report.run_id

    def admin(
        self,
        method: str,
        path: str,
        steward: str = "steward-lan",
        roles: tuple[str, ...] = clients.EVERY_SCOPE,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**clients.steward(self.issuer, steward, roles), **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.gateway}/admin{path}", headers=headers, timeout=30,
                             **kwargs)  # fmt: skip

    def subscribe(self, agency: str, name: str, types: list[str]) -> str:
        """Proposed by one steward, approved by the population registry's: its receiver path."""
        path = f"/{agency}/{name}"
        proposed = self.admin("POST", "/subscriptions", json={
            "agency": agency, "purpose": PURPOSES[agency], "name": name, "event_types": types,
            "endpoint": f"{self.receiver.url}{path}"})  # fmt: skip
        assert proposed.status_code == 201, proposed.text
        self.receiver.secrets[path] = proposed.json()["secret"]
        self.subscribed.append(path)
        self.decide(path, "approve", "steward-minh", POPULATION)
        return path

    def decide(
        self,
        path: str,
        action: str,
        steward: str = "steward-lan",
        roles: tuple[str, ...] = clients.EVERY_SCOPE,
        note: str | None = None,
    ) -> None:
        etag = self.admin("GET", f"/subscriptions{path}").headers["ETag"]
        answer = self.admin("POST", f"/subscriptions{path}/{action}", steward, roles,
                            json={"note": note} if note else None,
                            headers={"If-Match": etag})  # fmt: skip
        assert answer.status_code == 200, answer.text

    def deliveries(self, path: str) -> list[dict[str, Any]]:
        answer = self.admin("GET", f"/subscriptions{path}/deliveries", params={"limit": 100})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    def events(self, run_id: int) -> list[dict[str, Any]]:
        with psycopg.connect(self.settings.libpq_url) as connection:
            rows = connection.execute(
                "SELECT event_id::text, type, subject_id, subject_sequence FROM change_events "
                "WHERE source = %s ORDER BY seq",
                (f"etl:{run_id}",),
            ).fetchall()
        return [dict(zip(("id", "type", "subject", "sequence"), row, strict=True)) for row in rows]

    def graphql(self, headers: dict[str, str], query: str, **variables: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.gateway}/graphql", headers=headers, timeout=30,
                            json={"query": query, "variables": variables})  # fmt: skip
        assert answer.status_code == 200, answer.text
        body = dict(answer.json())
        assert "errors" not in body, body
        return body


def until(check: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g}s for {what}")
        time.sleep(0.1)


@contextmanager
def lienthong_worker(
    env: dict[str, str], name: str, logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `lienthong worker` named `name`, healthy when yielded, stopped afterwards."""
    port = free_port()
    with (logs / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(LIENTHONG), "worker", "--port", str(port), "--name", name],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            until(lambda: _healthy(port) or process.poll() is not None, f"{name} to start", 60)
            assert process.poll() is None, (logs / f"{name}.log").read_text()
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
async def prepared(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, list[dict[str, str]]]:
    """The policy, and the registry's first fill (which records no event)."""
    home = tmp_path_factory.mktemp("webhooks-home")
    settings = Settings(database_url=committed_database_url, home=home)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=POLICY, actor="etl")
    finally:
        await engine.dispose()
    people = [resident(person(BORN), BORN, full_name=f"Trần Văn {n}") for n in range(40)]
    folder = tmp_path_factory.mktemp("webhooks-exports")
    pipeline.load(settings=settings, target="residents", path=write(folder / "first.csv", people))
    return settings, people


@pytest.fixture(scope="module")
def world(
    prepared: tuple[Settings, list[dict[str, str]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    settings, people = prepared
    env = {
        **os.environ,
        **WORKER_ENV,
        "LIENTHONG_DATABASE_URL": settings.database_url,
        "LIENTHONG_HOME": str(settings.home),
    }
    receiver = Receiver()
    receiver.up()
    try:
        with lienthong_serve(env) as url:
            yield World(settings, env, url, DevIssuer(settings), receiver,
                        tmp_path_factory.mktemp("webhooks-loads"), list(people), [])  # fmt: skip
    finally:
        receiver.down()


@pytest.fixture(autouse=True)
def one_tests_subscriptions(world: World) -> Iterator[None]:
    """A test's subscriptions revoked after it: the next test's events are not theirs."""
    yield
    while world.subscribed:
        world.decide(world.subscribed.pop(), "revoke", note="hết phiên thử")


@pytest.fixture
def workers(world: World, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    with (
        lienthong_worker(world.env, "worker-1", tmp_path) as one,
        lienthong_worker(world.env, "worker-2", tmp_path) as two,
    ):
        yield [one, two]


def _keys(value: Any) -> set[str]:
    """Every object key of a JSON value, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for item in value.values() for k in _keys(item)}
    if isinstance(value, list):
        return {k for item in value for k in _keys(item)}
    return set()


def test_subscribers_receive_exactly_what_their_agreements_allow_signed(
    world: World, workers: list[subprocess.Popen[bytes]]
) -> None:
    bhxh = world.subscribe(BHXH, "bien-dong", ["resident.address_changed",
                           "resident.name_changed", "resident.deceased"])  # fmt: skip
    one_stop = world.subscribe(ONE_STOP, "cu-tru", ["resident.address_changed",
                               "resident.name_changed"])  # fmt: skip
    refused = world.admin("POST", "/subscriptions", json={
        "agency": ONE_STOP, "purpose": "CT01", "name": "tu-vong",
        "event_types": ["resident.deceased"], "endpoint": f"{world.receiver.url}/x"})  # fmt: skip
    assert clients.problem(refused, 422, "BAD_USER_INPUT")["argument"] == "event_types"
    moves, renamed, dies = (dict(r) for r in world.take(3))
    moves["permanent_address_line"] = "45 Bạch Đằng"
    renamed["full_name"] = "Trần Thị Hoa"
    dies.update(deceased="true", deceased_on="2026-11-30")
    events = world.events(world.load([moves, renamed, dies]))
    assert sorted(e["type"] for e in events) == [
        "resident.address_changed", "resident.deceased", "resident.name_changed"]  # fmt: skip
    until(lambda: len(world.receiver.of(bhxh)) == 3 and len(world.receiver.of(one_stop)) == 2,
          "every delivery")  # fmt: skip
    by_type = {e["type"]: e for e in events}
    for path, secret in ((bhxh, world.receiver.secrets[bhxh]),
                         (one_stop, world.receiver.secrets[one_stop])):  # fmt: skip
        for received in world.receiver.of(path):
            assert received.verified  # with this subscriber's secret
            body = json.loads(received.body)
            event = by_type[body["type"]]
            assert received.event_id == body["id"] == event["id"]
            assert body["subject"] == {"type": "Resident", "id": event["subject"]}
            assert body["sequence"] == event["sequence"]
            # a refused field never appears, at any depth: the date of birth, the sex, the
            # full date of death; deaths never to the one-stop centre
            assert not _keys(body) & {"birthDate", "sex", "ethnicity", "nationality"}
            assert b"2026-11-30" not in received.body and BORN.isoformat().encode() not in (
                received.body
            )
            other = next(s for s in world.receiver.secrets.values() if s != secret)
            with pytest.raises(WebhookVerificationError, match="No matching signature"):
                Webhook(other).verify(received.body, received.headers)
    bodies = {json.loads(r.body)["type"]: json.loads(r.body) for r in world.receiver.of(bhxh)}
    assert bodies["resident.deceased"]["data"] == {"deceased": True, "deceasedOn": "2026"}
    assert bodies["resident.name_changed"]["data"] == {"fullName": "Trần Thị Hoa"}
    assert set(bodies["resident.address_changed"]["data"]) == {
        "permanentAddress", "temporaryAddress"}  # fmt: skip
    assert "45 Bạch Đằng" in json.dumps(bodies["resident.address_changed"]["data"],
                                        ensure_ascii=False)  # fmt: skip
    told = [json.loads(r.body) for r in world.receiver.of(one_stop)]
    assert sorted(b["type"] for b in told) == ["resident.address_changed", "resident.name_changed"]
    assert all(b"deceased" not in r.body for r in world.receiver.of(one_stop))
    logged = until(lambda: [d for d in world.deliveries(bhxh) if d["status"] == "delivered"],
                   "the delivery log")  # fmt: skip
    assert all(d["attempts"] >= 1 and d["latency_ms"] is not None for d in logged)


def test_a_revoked_consent_cancels_the_deliveries_not_yet_made(
    world: World, workers: list[subprocess.Popen[bytes]]
) -> None:
    path = world.subscribe(BANK, "khach-hang", ["resident.name_changed"])
    consenting, silent = (dict(r) for r in world.take(2))
    citizen = clients.citizen(world.issuer, consenting["personal_id"])
    granted = world.graphql(
        citizen,
        "mutation($a: ID!, $p: String!, $f: [String!]!, $e: DateTime!) {"
        " grantConsent(agency: $a, purpose: $p, fields: $f, expiresAt: $e) { id } }",
        a=BANK, p="VAY-XYZ", f=["id", "fullName"],
        e=(datetime.now(UTC) + timedelta(days=30)).isoformat(),
    )  # fmt: skip
    world.receiver.failures[path] = 10**6  # the bank's receiver answers 500 for now
    consenting["full_name"], silent["full_name"] = "Lê Thị Mai", "Đỗ Văn Nam"
    run = world.load([consenting, silent])
    (sent,) = [e for e in world.events(run) if e["subject"] == consenting["personal_id"]]
    until(lambda: len(world.receiver.of(path, accepted=False)) >= 2, "two failed attempts")
    world.graphql(citizen, "mutation($id: ID!) { revokeConsent(id: $id) { revokedAt } }",
                  id=granted["data"]["grantConsent"]["id"])  # fmt: skip
    (cancelled,) = until(
        lambda: [d for d in world.deliveries(path) if d["status"] == "cancelled"],
        "the delivery cancelled",
    )
    assert cancelled["event_id"] == sent["id"]
    assert cancelled["cancelled_reason"].startswith("not_allowed:")
    assert cancelled["redeliverable"] is False
    world.receiver.failures[path] = 0  # the receiver is back: nothing is sent any more
    time.sleep(2)
    assert world.receiver.of(path) == []  # never accepted
    assert {r.event_id for r in world.receiver.of(path, accepted=False)} == {sent["id"]}
    assert all(silent["personal_id"].encode() not in r.body for r in world.receiver.received)


def test_a_retry_resends_identical_bytes_under_the_same_id(
    world: World, workers: list[subprocess.Popen[bytes]]
) -> None:
    path = world.subscribe(BHXH, "doi-ten", ["resident.name_changed"])
    world.receiver.failures[path] = 2
    (row,) = (dict(r) for r in world.take(1))
    row["full_name"] = "Phan Thị Thu"
    (event,) = world.events(world.load([row]))
    until(lambda: world.receiver.of(path), "the third attempt, accepted")
    sent = [r for r in world.receiver.received if r.path == path]
    assert [r.status for r in sent] == [500, 500, 200]
    assert {r.event_id for r in sent} == {event["id"]}
    assert len({r.body for r in sent}) == 1
    (delivery,) = until(lambda: [d for d in world.deliveries(path) if d["status"] == "delivered"],
                        "delivered")  # fmt: skip
    assert delivery["attempts"] == 3


def test_a_receiver_down_for_a_while_gets_every_event_when_it_is_back(
    world: World, workers: list[subprocess.Popen[bytes]]
) -> None:
    path = world.subscribe(BHXH, "dia-chi", ["resident.address_changed"])
    world.receiver.down()
    try:
        rows = [dict(r) for r in world.take(5)]
        for number, row in enumerate(rows):
            row["permanent_address_line"] = f"{number + 1} Lê Duẩn"
        first = world.events(world.load(rows))
        rows[0]["permanent_address_line"] = "99 Hùng Vương"  # the same resident moves again
        second = world.events(world.load(rows[:1]))
        expected = first + second
        until(lambda: len(world.deliveries(path)) == 6
              and all(d["attempts"] >= 2 for d in world.deliveries(path)),
              "every delivery tried while the receiver is down")  # fmt: skip
        assert {d["status"] for d in world.deliveries(path)} == {"failed"}
        assert all("ConnectError" in (d["last_error"] or "") for d in world.deliveries(path))
    finally:
        world.receiver.up()
    until(lambda: len({r.event_id for r in world.receiver.of(path)}) == 6, "every event")
    sequences = {json.loads(r.body)["id"]: json.loads(r.body)["sequence"]
                 for r in world.receiver.of(path)}  # fmt: skip
    assert sequences == {e["id"]: e["sequence"] for e in expected}
    again = [sequences[e["id"]] for e in expected if e["subject"] == rows[0]["personal_id"]]
    assert len(again) == 2 and again[0] < again[1]  # a receiver orders them by sequence
    latest = max((json.loads(r.body) for r in world.receiver.of(path)
                  if json.loads(r.body)["subject"]["id"] == rows[0]["personal_id"]),
                 key=lambda b: b["sequence"])  # fmt: skip
    assert "99 Hùng Vương" in json.dumps(latest["data"], ensure_ascii=False)


def test_a_worker_killed_mid_delivery_loses_nothing(world: World, tmp_path: Path) -> None:
    path = world.subscribe(BHXH, "chet-giua-chung", ["resident.name_changed"])
    world.receiver.stall.add(path)
    world.receiver.stalled.clear()
    world.receiver.release.clear()
    rows = [dict(r) for r in world.take(4)]
    for row in rows:
        row["full_name"] += " Mới"
    with (
        lienthong_worker(world.env, "worker-a", tmp_path) as a,
        lienthong_worker(world.env, "worker-b", tmp_path) as b,
    ):
        events = world.events(world.load(rows))
        assert world.receiver.stalled.wait(WAIT_SECONDS), "no request reached the receiver"
        caught = world.receiver.stalled_ids[0]  # its request is being answered, slowly
        with psycopg.connect(world.settings.libpq_url) as connection:
            ((stalled_by,),) = connection.execute(
                "SELECT locked_by FROM deliveries WHERE subscription_id = %s AND event_id = %s",
                (path.strip("/"), caught)).fetchall()  # fmt: skip
            held = {str(row[0]) for row in connection.execute(
                "SELECT event_id FROM deliveries WHERE subscription_id = %s AND locked_by = %s",
                (path.strip("/"), stalled_by)).fetchall()}  # fmt: skip
        victim, survivor = (a, b) if stalled_by == "worker-a" else (b, a)
        victim.send_signal(signal.SIGKILL)  # mid-request: its attempts never finish
        victim.wait(timeout=30)
        world.receiver.release.set()
        until(lambda: {r.event_id for r in world.receiver.of(path)} >= {e["id"] for e in events},
              "every event, the killed worker's too")  # fmt: skip
        assert survivor.poll() is None
        until(lambda: {d["status"] for d in world.deliveries(path)} == {"delivered"},
              "every delivery delivered")  # fmt: skip
    ids = [e["id"] for e in events]
    # every event at least once; twice only what the killed worker held (at least the
    # request it was killed in the middle of), sent again by the other
    counts = Counter(r.event_id for r in world.receiver.received if r.path == path)
    assert set(counts) == set(ids)
    assert counts[caught] == 2
    assert {i for i, n in counts.items() if n > 1} <= held and max(counts.values()) == 2
    assert all(world.receiver.most_at_once[i] == 1 for i in ids)  # never two attempts at once
