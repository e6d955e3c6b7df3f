"""Bulk-access alerts end to end through HTTP (the whole gateway app, lifespan included, a
committed database of this module's own): an officer's scripted walk through the residents
registry raises an `officer_volume` alert naming the agency and the officer, a walk below the
threshold raises nothing, and a steward lists, reads and reviews the alert, which the open-alert
gauge follows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import clients, factories
from tests.clients import problem
from tests.graphql_world import SAMPLE_POLICY

PROBLEM = "application/problem+json"
AGENCY = "motcua-danang"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"
THRESHOLD = 40  # distinct subjects one officer may read in a window
OVER, UNDER = 45, 10
GAUGE = f'lienthong_access_alerts_open{{agency="{AGENCY}",kind="officer_volume"}}'


@dataclass
class World:
    residents: list[str]


@pytest.fixture(scope="module")
def alert_settings(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        database_url=committed_database_url,
        home=tmp_path_factory.mktemp("alerts-home"),
        alert_scan_seconds=0,  # scans on demand only: the test says when
        # a day's window (Vietnam time): a walk of a few seconds is very unlikely to straddle two
        alert_window_minutes=1440,
        alert_officer_subjects=THRESHOLD,
        # only the volume rule is exercised: the walk may happen at night, and reads no one absent
        alert_off_hours_subjects=10_000,
        alert_absent_lookups=10_000,
    )


@pytest.fixture(scope="module")
async def world(alert_settings: Settings) -> World:
    engine = create_engine(alert_settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            residents = [
                (await factories.make_resident(session, full_name=f"Trần Văn {n}")).personal_id
                for n in range(60)
            ]
    finally:
        await engine.dispose()
    return World(residents=residents)


class Client(clients.Caller):
    """HTTP against the app: a steward, or an officer of an agency reading residents."""

    def agency(self, client_id: str = AGENCY) -> dict[str, str]:
        return clients.agency(self.issuer, client_id)

    async def call(
        self, method: str, path: str, *, steward: str = "steward-lan", **kwargs: Any
    ) -> httpx.Response:
        return await self.http.request(
            method, f"/admin{path}", headers=self.steward(steward), **kwargs
        )

    async def walk(self, officer: str, residents: list[str]) -> None:
        """The officer reads each resident in turn, one request each."""
        headers = {**self.agency(), "X-Purpose": "CT01", "X-Officer": officer}
        for resident in residents:
            answer = await self.http.post(
                "/graphql", json={"query": RESIDENT, "variables": {"id": resident}},
                headers=headers,
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert "errors" not in body, body
            assert body["data"]["resident"]["fullName"].startswith("Trần Văn")


@pytest.fixture(scope="module")
async def client(alert_settings: Settings, world: World) -> AsyncIterator[Client]:
    async with clients.app_client(alert_settings) as http:
        yield Client(http, DevIssuer(alert_settings))


async def _gauge(client: Client) -> str | None:
    metrics = (await client.http.get("/metrics")).text
    return next((line for line in metrics.splitlines() if line.startswith(GAUGE)), None)


async def test_a_walk_below_the_threshold_raises_nothing(client: Client, world: World) -> None:
    await client.walk("can-bo-02", world.residents[:UNDER])
    scanned = await client.call("POST", "/alerts/scan")
    assert scanned.status_code == 200, scanned.text
    assert [a for a in scanned.json() if a["officer"] == "can-bo-02"] == []
    listed = (await client.call("GET", "/alerts")).json()["items"]
    assert [a for a in listed if a["officer"] == "can-bo-02"] == []


async def test_a_walk_over_the_threshold_is_noticed_and_reviewed(
    client: Client, world: World
) -> None:
    await client.walk("can-bo-01", world.residents[:OVER])
    scanned = await client.call("POST", "/alerts/scan")
    assert scanned.status_code == 200, scanned.text
    raised = scanned.json()
    assert [(a["kind"], a["agency"], a["officer"], a["subjects"]) for a in raised] == [
        ("officer_volume", AGENCY, "can-bo-01", OVER)
    ]
    alert = raised[0]
    assert alert["status"] == "open"
    assert alert["entries"] == OVER
    assert alert["measure"]["distinct_share"] == 1.0
    assert alert["measure"]["threshold"]["subjects"] == THRESHOLD
    assert not any(r in str(alert) for r in world.residents)  # figures, never a subject
    again = await client.call("POST", "/alerts/scan")
    assert again.json() == []  # the same window: already raised

    listed = (await client.call("GET", "/alerts?status=open")).json()
    assert [a["alert_id"] for a in listed["items"]] == [alert["alert_id"]]
    assert listed["next_cursor"] is None
    by_kind = await client.call("GET", f"/alerts?kind=officer_volume&agency={AGENCY}")
    assert [a["alert_id"] for a in by_kind.json()["items"]] == [alert["alert_id"]]
    one = await client.call("GET", f"/alerts/{alert['alert_id']}")
    assert one.json() == alert
    assert await _gauge(client) == f"{GAUGE} 1.0"

    path = f"/alerts/{alert['alert_id']}"
    note = "Cán bộ xác nhận đợt rà soát hộ khẩu theo kế hoạch; đã đối chiếu văn bản."
    reviewed = await client.call(
        "PATCH", path, steward="steward-minh", json={"status": "reviewed", "note": note}
    )
    assert reviewed.status_code == 200, reviewed.text
    body = reviewed.json()
    assert (body["status"], body["reviewed_by"], body["note"]) == ("reviewed", "steward-minh", note)
    assert body["reviewed_at"] is not None
    assert (await client.call("GET", "/alerts?status=open")).json()["items"] == []
    assert await _gauge(client) == f"{GAUGE} 0.0"
    closed = await client.call("PATCH", path, json={"status": "dismissed", "note": "x"})
    problem(closed, 409, "CONFLICT")


async def test_pages_of_alerts(client: Client) -> None:
    first = await client.call("GET", "/alerts?limit=1")
    assert first.status_code == 200
    problem(await client.call("GET", "/alerts?cursor=bm9wZQ"), 422, "BAD_USER_INPUT")


@pytest.mark.parametrize(
    ("body", "argument"),
    [
        ({"status": "reviewed"}, "body.note"),
        ({"status": "reviewed", "note": ""}, "body.note"),
        ({"status": "reviewed", "note": "x" * 2001}, "body.note"),
        ({"status": "reviewed", "note": "a\x00b"}, "body.note"),
        ({"status": "open", "note": "reopen"}, "body.status"),
        ({"status": "reviewed", "note": "ok", "extra": 1}, "body.extra"),
    ],
)
async def test_bad_reviews(client: Client, body: dict[str, Any], argument: str) -> None:
    answer = problem(await client.call("PATCH", "/alerts/1", json=body), 422, "BAD_USER_INPUT")
    assert answer["argument"] == argument


async def test_unknown_alerts_and_bad_filters(client: Client) -> None:
    problem(await client.call("GET", "/alerts/999999"), 404, "NOT_FOUND")
    ok = {"status": "dismissed", "note": "không có"}
    problem(await client.call("PATCH", "/alerts/999999", json=ok), 404, "NOT_FOUND")
    problem(await client.call("GET", "/alerts/0"), 422, "BAD_USER_INPUT")
    problem(await client.call("GET", "/alerts/abc"), 422, "BAD_USER_INPUT")
    problem(await client.call("GET", "/alerts/99999999999999999999"), 422, "BAD_USER_INPUT")
    problem(await client.call("GET", "/alerts?status=closed"), 422, "BAD_USER_INPUT")
    problem(await client.call("GET", "/alerts?kind=volume"), 422, "BAD_USER_INPUT")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/alerts"),
        ("GET", "/alerts/1"),
        ("PATCH", "/alerts/1"),
        ("POST", "/alerts/scan"),
    ],
)
async def test_only_stewards_see_or_review_alerts(client: Client, method: str, path: str) -> None:
    body = {"status": "reviewed", "note": "x"}
    answer = await client.http.request(method, f"/admin{path}", headers=client.agency(), json=body)
    assert problem(answer, 403, "FORBIDDEN")["reason"] == "steward role required"
    problem(await client.http.request(method, f"/admin{path}", json=body), 401, "UNAUTHENTICATED")
