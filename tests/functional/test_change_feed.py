"""The pull feed of change events through HTTP: GraphQL `changes` and `GET /events` (NDJSON).

Events are inserted directly (the producers write them with the registries' merges) with the
registry rows they name, each committed in its own transaction on the module's own database:
the feed reads only what every process could read, in commit order. Each test subscribes
agencies of its own, approved from the test's start, so that it sees only its own events.

The horizon is the cluster's oldest running transaction: another test run's transaction on the
same server holds it back too, so a test waits (`_until`) for what must come, and checks at once
only what must not."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.cursors import encode_cursor
from gateway.policy.models import Subscription
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.events import EVENT_TYPES
from registries.history import supersede
from tests import clients, factories
from tests.clients import Process
from tests.policy_worlds import load_as_written

ROOT = Path(__file__).resolve().parents[2]
CHANGES = (ROOT / "graphql" / "operations" / "Changes.graphql").read_text(encoding="utf-8")
PURPOSE = "EV-FEED"
WAIT_SECONDS = 60  # another run's transaction on the server may hold the horizon back this long
_agencies = itertools.count(1)
INSERT_EVENT = text(
    "INSERT INTO change_events (type, subject_type, subject_id, fields, new_version_id, "
    "subject_sequence, effective_at, source) VALUES (:type, :subject_type, :subject_id, "
    ":fields, :version, :sequence, now(), 'etl:feed-test') RETURNING event_id::text"
)


class World:
    def __init__(self, engine: AsyncEngine, processes: list[Process]) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.processes = processes

    @property
    def gateway(self) -> Process:
        return self.processes[0]

    async def subscriber(
        self,
        *,
        fields: Iterable[str] = ("id", "fullName", "deceased", "deceasedOn", "permanentAddress",
                                 "temporaryAddress"),
        masking: dict[str, str] | None = None,
        types: Iterable[str] = ("resident.name_changed", "resident.deceased"),
        subscribed: bool = True,
        status: str = "approved",
    ) -> str:  # fmt: skip
        """A new agency whose agreement for PURPOSE gives `fields` of residents, subscribed to
        `types` from now on."""
        agency = f"ev-feed-{next(_agencies)}"
        document = {
            "agencies": [{"client_id": agency, "name": agency, "kind": "test"}],
            "purposes": [{"code": PURPOSE, "title": "Theo dõi", "procedure": "Theo dõi biến động"}],
            "agreements": [
                {"agency": agency, "purpose": PURPOSE, "type": "Resident", "fields": list(fields),
                 "legal_basis": "Luật Cư trú 2020", "consent_required": False, "via": None,
                 "masking": masking or {}, "status": "approved",
                 "valid_from": "2025-07-01T00:00:00Z", "valid_to": None},
            ],
        }  # fmt: skip
        async with self.sessions.begin() as session:
            await load_as_written(session=session, document=document)
            if subscribed:
                await supersede(
                    session=session,
                    model=Subscription,
                    key={"subscription_id": f"{agency}/cu-tru"},
                    values={"agency": agency, "purpose": PURPOSE, "name": "cu-tru",
                            "event_types": sorted(types), "endpoint": None, "secret": None,
                            "status": status, "approvals": {"population": "steward-minh"},
                            "created_by": "steward-lan", "changed_by": "steward-minh"},
                )  # fmt: skip
        return agency

    async def resident(self, **values: Any) -> Any:
        async with self.sessions.begin() as session:
            return await factories.make_resident(session, **values)

    async def event(
        self, event_type: str, resident: Any, connection: AsyncConnection | None = None
    ) -> str:
        """An event about `resident` committed in a transaction of its own (or in `connection`'s,
        left open)."""
        values = {
            "type": event_type,
            "subject_type": EVENT_TYPES[event_type].subject_type,
            "subject_id": resident.personal_id,
            "fields": list(EVENT_TYPES[event_type].reveals),
            "version": resident.version_id,
            "sequence": 2,
        }
        if connection is not None:
            return str((await connection.execute(INSERT_EVENT, values)).scalar_one())
        async with self.engine.begin() as own:
            return str((await own.execute(INSERT_EVENT, values)).scalar_one())


@pytest.fixture(scope="module")
async def world(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    settings = Settings(
        database_url=committed_database_url, home=tmp_path_factory.mktemp("change-feed-home")
    )
    engine = create_engine(settings, pool_size=3)
    try:
        async with clients.processes(settings, count=2) as processes:
            yield World(engine, processes)
    finally:
        await engine.dispose()


def _headers(process: Process, agency: str, purpose: str | None = PURPOSE) -> dict[str, str]:
    headers = process.agency(agency)
    if purpose is not None:
        headers["X-Purpose"] = purpose
    return headers


async def _changes(
    process: Process, agency: str, *, after: str | None = None, first: Any = None, **more: Any
) -> dict[str, Any]:
    variables: dict[str, Any] = {"after": after}
    if first is not None:
        variables["first"] = first
    answer = await process.http.post(
        "/graphql",
        json={"query": CHANGES, "variables": variables},
        headers={**_headers(process, agency, **more)},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _page(process: Process, agency: str, after: str | None = None, **more: Any) -> Any:
    body = await _changes(process, agency, after=after, **more)
    assert "errors" not in body, body
    return body["data"]["changes"]


async def _ndjson(
    process: Process, agency: str, **params: Any
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    answer = await process.http.get(
        "/events", params={k: v for k, v in params.items() if v is not None},
        headers=_headers(process, agency),
    )  # fmt: skip
    lines = [json.loads(line) for line in answer.text.splitlines()] if answer.is_success else []
    return answer, lines


async def _until(
    read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = WAIT_SECONDS
) -> Any:
    """What `read` gives once `done` holds (polled: the horizon moves when other transactions
    end); the last reading otherwise."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await read()
        if done(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _all(process: Process, agency: str, count: int) -> list[dict[str, Any]]:
    """The agency's feed from its start, once it holds `count` events."""
    page = await _until(lambda: _page(process, agency), lambda p: len(p["nodes"]) >= count)
    assert len(page["nodes"]) == count, page
    return list(page["nodes"])


async def test_events_come_in_commit_order_with_what_the_agreement_gives(world: World) -> None:
    agency = await world.subscriber(masking={"deceasedOn": "year_only"})
    renamed = await world.resident(full_name="Trần Thị Bình")
    died = await world.resident(full_name="Võ Văn Cường", deceased=True,
                                deceased_on=date(2026, 11, 2))  # fmt: skip
    first = await world.event("resident.name_changed", renamed)
    second = await world.event("resident.deceased", died)
    # a type the subscription does not name is not given, nor shown as anything
    await world.event("resident.address_changed", renamed)
    nodes = await _all(world.gateway, agency, 2)
    assert [(n["id"], n["type"]) for n in nodes] == [
        (first, "resident.name_changed"), (second, "resident.deceased"),
    ]  # fmt: skip
    assert nodes[0]["subject"] == {"type": "Resident", "id": renamed.personal_id}
    assert nodes[0]["data"] == {"fullName": "Trần Thị Bình"}
    assert nodes[0]["sequence"] == 2
    assert datetime.fromisoformat(nodes[0]["recordedAt"]) <= datetime.now(UTC)
    assert nodes[1]["data"] == {"deceased": True, "deceasedOn": "2026"}  # masked: the year


async def test_a_late_commit_is_never_left_behind_a_cursor(world: World) -> None:
    agency = await world.subscriber()
    resident = await world.resident()
    before = await world.event("resident.name_changed", resident)
    (node,) = await _all(world.gateway, agency, 1)
    assert node["id"] == before
    cursor = (await _page(world.gateway, agency))["pageInfo"]["endCursor"]
    async with world.engine.connect() as late:
        transaction = await late.begin()
        # its id is taken before the other transaction's, its event written after
        await late.execute(text("SELECT pg_current_xact_id()"))
        after = await world.event("resident.deceased", resident)  # committed first
        held = await world.event("resident.name_changed", resident, connection=late)
        # a transaction with a smaller id is running: nothing after the cursor may be given yet
        page = await _page(world.gateway, agency, cursor)
        assert page["nodes"] == []
        assert page["pageInfo"]["endCursor"] == cursor
        ndjson, lines = await _ndjson(world.gateway, agency, after=cursor)
        assert ndjson.status_code == 200
        assert lines == [{"cursor": cursor, "hasNextPage": False}]
        await transaction.commit()
    page = await _until(lambda: _page(world.gateway, agency, cursor), lambda p: p["nodes"])
    # in transaction order: the event written last comes first, its transaction began first
    assert [n["id"] for n in page["nodes"]] == [held, after]


async def test_a_transaction_of_another_database_holds_nothing_back(
    world: World, committed_database_url: str
) -> None:
    """Only this database's transactions can write its outbox: one running elsewhere on the
    same server (a test run, a benchmark, Keycloak's database), older than the event, does not
    hold the feed back, though it is below the snapshot's xmin."""
    agency = await world.subscriber()
    resident = await world.resident()
    elsewhere = make_url(committed_database_url).set(database="postgres")
    async with await psycopg.AsyncConnection.connect(
        elsewhere.render_as_string(hide_password=False)
    ) as other:
        running = (await (await other.execute("SELECT pg_current_xact_id()")).fetchone() or [0])[0]
        sent = await world.event("resident.name_changed", resident)
        async with world.engine.connect() as connection:
            snapshot = (
                await connection.execute(text("SELECT pg_current_snapshot()::text"))
            ).scalar()
        assert int(str(snapshot).split(":")[0]) <= int(running)  # the xmin is held back
        page = await _page(world.gateway, agency)  # at once: nothing to wait for
        assert [n["id"] for n in page["nodes"]] == [sent]
        await other.rollback()


async def test_the_feed_resumes_from_its_cursor_in_the_same_order_on_every_process(
    world: World, committed_database_url: str, tmp_path: Path
) -> None:
    agency = await world.subscriber()
    resident = await world.resident()
    sent = [await world.event("resident.name_changed", resident) for _ in range(5)]
    whole = await _all(world.gateway, agency, 5)
    assert [n["id"] for n in whole] == sent
    other = world.processes[1]
    assert [n["id"] for n in await _all(other, agency, 5)] == sent
    first = await _page(world.gateway, agency, first=2)
    assert [n["id"] for n in first["nodes"]] == sent[:2]
    assert first["pageInfo"]["hasNextPage"] is True
    second = await _page(other, agency, first["pageInfo"]["endCursor"], first=2)
    assert [n["id"] for n in second["nodes"]] == sent[2:4]
    # a gateway started afresh reads the same feed from the same cursor
    settings = Settings(database_url=committed_database_url, home=tmp_path)
    async with clients.processes(settings, count=1) as (restarted,):
        assert [n["id"] for n in await _all(restarted, agency, 5)] == sent
        third = await _page(restarted, agency, second["pageInfo"]["endCursor"], first=2)
    assert [n["id"] for n in third["nodes"]] == sent[4:]
    assert third["pageInfo"]["hasNextPage"] is False


async def test_ndjson_gives_the_payloads_a_line_each_then_the_cursor(world: World) -> None:
    agency = await world.subscriber()
    resident = await world.resident(full_name="Đặng Thị Hoa")
    sent = [await world.event("resident.name_changed", resident) for _ in range(3)]
    await _all(world.gateway, agency, 3)  # past the horizon
    answer, lines = await _ndjson(world.gateway, agency, limit=2)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-ndjson"
    assert answer.headers["cache-control"] == "no-store"
    *events, last = lines
    assert [e["id"] for e in events] == sent[:2]
    assert events[0] == {
        "id": sent[0], "type": "resident.name_changed",
        "subject": {"type": "Resident", "id": resident.personal_id}, "sequence": 2,
        "effectiveAt": events[0]["effectiveAt"], "recordedAt": events[0]["recordedAt"],
        "data": {"fullName": "Đặng Thị Hoa"},
    }  # fmt: skip
    assert set(last) == {"cursor", "hasNextPage"}
    assert last["hasNextPage"] is True
    # the GraphQL feed's cursor and NDJSON's are the same
    page = await _page(world.gateway, agency, first=2)
    assert page["pageInfo"]["endCursor"] == last["cursor"]
    assert [n["data"] for n in page["nodes"]] == [e["data"] for e in events]
    _, rest = await _ndjson(world.processes[1], agency, after=last["cursor"])
    assert [e["id"] for e in rest[:-1]] == sent[2:]
    assert rest[-1]["hasNextPage"] is False
    # empty parameters are absent ones: from the start, the default page
    _, again = await _ndjson(world.gateway, agency, after="", limit="")
    assert [e["id"] for e in again[:-1]] == sent
    assert again[-1] == rest[-1]


GOOD_SHAPE_FOREIGN = encode_cursor("abc", "1")  # a cursor of this platform's shape, not the feed's


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"after": "nope"}, "after"),
        ({"after": base64.urlsafe_b64encode(b'["1"]').decode()}, "after"),
        ({"after": GOOD_SHAPE_FOREIGN}, "after"),
        ({"first": 0}, "first"),
        ({"first": 501}, "first"),
        ({"first": -3}, "first"),
    ],
)
async def test_a_bad_cursor_or_page_size_is_bad_user_input(
    world: World, variables: dict[str, Any], argument: str
) -> None:
    agency = await world.subscriber()
    body = await _changes(world.gateway, agency, **variables)
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument
    assert error["message"].startswith(f"{argument}: ")


@pytest.mark.parametrize(
    ("params", "argument"),
    [
        ({"after": "nope"}, "after"),
        ({"after": GOOD_SHAPE_FOREIGN}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "dix"}, "limit"),
        ({"limit": "-1"}, "limit"),
    ],
)
async def test_ndjson_bad_input_is_400_in_the_error_shape(
    world: World, params: dict[str, str], argument: str
) -> None:
    agency = await world.subscriber()
    answer, _ = await _ndjson(world.gateway, agency, **params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/json"
    (error,) = answer.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert "X-Request-Id" in answer.headers


async def test_admission_is_that_of_a_registry_read(world: World) -> None:
    agency = await world.subscriber()
    process = world.gateway
    # no purpose
    body = await _changes(process, agency, purpose=None)
    assert body["errors"][0]["extensions"]["code"] == "PURPOSE_REQUIRED"
    answer = await process.http.get("/events", headers=process.agency(agency))
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "PURPOSE_REQUIRED"
    # no token
    answer = await process.http.get("/events", headers={"X-Purpose": PURPOSE})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="lienthong"'
    assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # a citizen has no feed
    citizen = {**process.citizen(factories.new_personal_id()), "X-Purpose": PURPOSE}
    answer = await process.http.get("/events", headers=citizen)
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # a malformed purpose
    answer = await process.http.get("/events", headers=_headers(process, agency, "bad purpose"))
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["argument"] == "X-Purpose"


@pytest.mark.parametrize(
    "subscription",
    [{"subscribed": False}, {"status": "suspended"}, {"status": "submitted"}],
    ids=["none", "suspended", "submitted"],
)
async def test_an_agency_without_an_approved_subscription_gets_nothing(
    world: World, subscription: dict[str, Any]
) -> None:
    agency = await world.subscriber(**subscription)
    resident = await world.resident()
    await world.event("resident.name_changed", resident)
    body = await _changes(world.gateway, agency)
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["message"] == (
        f"not allowed to see changes: no approved subscription of {agency} for purpose {PURPOSE}"
    )
    answer, lines = await _ndjson(world.gateway, agency)
    assert answer.status_code == 403
    assert lines == []
    assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # and another purpose of a subscribed agency is not its subscription's
    subscribed = await world.subscriber()
    body = await _changes(world.gateway, subscribed, purpose="CT01")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_subscriber_without_a_grant_for_deceased_never_sees_a_death(
    world: World,
) -> None:
    # subscribed to deaths when its agreement gave them; the agreement no longer does
    agency = await world.subscriber(fields=("id", "fullName"))
    watcher = await world.subscriber()  # another agency, given deaths, sees both
    resident = await world.resident(full_name="Bùi Văn Giang", deceased=True,
                                    deceased_on=date(2026, 10, 1))  # fmt: skip
    death = await world.event("resident.deceased", resident)
    renamed = await world.event("resident.name_changed", resident)
    assert [n["id"] for n in await _all(world.gateway, watcher, 2)] == [death, renamed]
    page = await _page(world.gateway, agency)
    assert [n["id"] for n in page["nodes"]] == [renamed]
    assert death not in json.dumps(page)
    _, lines = await _ndjson(world.gateway, agency)
    assert [line.get("id") for line in lines[:-1]] == [renamed]
    assert b"2026-10-01" not in json.dumps(lines).encode()
    # the cursor is past the death: a page after it does not bring it back
    again = await _page(world.gateway, agency, page["pageInfo"]["endCursor"])
    assert again["nodes"] == []


async def test_events_recorded_before_the_subscription_are_not_given(world: World) -> None:
    resident = await world.resident()
    earlier = await world.event("resident.name_changed", resident)
    agency = await world.subscriber()
    later = await world.event("resident.name_changed", resident)
    nodes = await _all(world.gateway, agency, 1)
    assert [n["id"] for n in nodes] == [later]
    assert earlier != later


async def test_every_event_given_is_in_the_access_log_with_its_id(world: World) -> None:
    agency = await world.subscriber(masking={"deceasedOn": "year_only"})
    resident = await world.resident(deceased=True, deceased_on=date(2026, 9, 9))
    renamed = await world.event("resident.name_changed", resident)
    died = await world.event("resident.deceased", resident)
    await _all(world.gateway, agency, 2)
    graphql = await world.gateway.http.post(
        "/graphql", json={"query": CHANGES}, headers=_headers(world.gateway, agency)
    )
    answer, _ = await _ndjson(world.gateway, agency)
    for request_id in (graphql.headers["x-request-id"], answer.headers["x-request-id"]):
        async with world.engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT subject_type, subject_id, purpose, fields_given, fields_masked, "
                        "decision FROM access_log WHERE request_id = :id ORDER BY entry_id"
                    ),
                    {"id": request_id},
                )
            ).all()
        logged = {row.decision["event"]: row for row in rows}
        assert set(logged) == {renamed, died}, rows
        for row in rows:
            assert (row.subject_type, row.subject_id, row.purpose) == (
                "resident", resident.personal_id, PURPOSE,
            )  # fmt: skip
            assert row.decision["outcome"] == "disclosed"
            assert row.decision["channel"] == "pull"
            assert row.decision["subscription"] == f"{agency}/cu-tru"
        assert logged[renamed].fields_given == ["fullName", "id"]
        assert logged[died].fields_given == ["deceased", "id"]
        assert logged[died].fields_masked == ["deceasedOn"]


async def test_the_trusted_document_runs_in_prod(world: World) -> None:
    agency = await world.subscriber()
    resident = await world.resident()
    sent = await world.event("resident.name_changed", resident)
    await _all(world.gateway, agency, 1)
    process = world.processes[1]
    env = process.app.state.services.settings.env
    process.prod()
    try:
        page = await _page(process, agency)
        assert [n["id"] for n in page["nodes"]] == [sent]
        other = await process.http.post(
            "/graphql",
            json={"query": "{ changes { nodes { id } } }"},
            headers=_headers(process, agency),
        )
        assert other.json()["errors"][0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"
    finally:
        services = process.app.state.services
        services.settings = services.settings.model_copy(update={"env": env})
