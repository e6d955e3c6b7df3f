"""Subscriptions to change events through the admin API: checked against the agency's
agreements (an event type is personal data by itself), reviewed by the stewards of every
registry its types concern, with the signing secret shown once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.policy.service import load_policy_document
from lienthong.resources import SAMPLE_POLICY
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import clients
from tests.clients import Process

POPULATION = ("steward", "steward:population")
ENTERPRISE = ("steward", "steward:enterprise")
# the one-stop centre's CT01 agreements give names and addresses of residents, a household's
# members, but not deaths
ONE_STOP = {"agency": "motcua-danang", "purpose": "CT01"}


@pytest.fixture(scope="module")
async def admin(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Process]:
    settings = Settings(
        database_url=committed_database_url, home=tmp_path_factory.mktemp("subscriptions-home")
    )
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            document = json.loads(SAMPLE_POLICY.read_text(encoding="utf-8"))
            await load_policy_document(session=session, document=document, actor="etl")
    finally:
        await engine.dispose()
    async with clients.processes(settings, count=1) as (process,):
        yield process


async def _propose(admin: Process, **body: Any) -> httpx.Response:
    return await admin.admin("POST", "/subscriptions", json={**ONE_STOP, **body})


async def _decide(
    admin: Process, path: str, action: str, steward: str, roles: tuple[str, ...], **body: Any
) -> httpx.Response:
    etag = (await admin.admin("GET", path)).headers["ETag"]
    return await admin.http.post(
        f"/admin{path}/{action}",
        json=body or None,
        headers={**admin.steward(steward, roles), "If-Match": etag},
    )


async def test_a_subscription_is_proposed_with_its_secret_once_and_approved(
    admin: Process,
) -> None:
    proposed = await _propose(
        admin,
        name="cu-tru",
        event_types=["resident.address_changed", "household.member_added"],
        endpoint="https://motcua.danang.gov.vn/lienthong/events",
    )
    assert proposed.status_code == 201, proposed.text
    body = proposed.json()
    assert body["status"] == "submitted"
    assert body["needs"] == ["population"]
    assert body["secret"].startswith("whsec_")
    path = "/subscriptions/motcua-danang/cu-tru"
    assert (await admin.admin("GET", path)).json()["secret"] is None  # shown once

    own = await _decide(admin, path, "approve", "steward-lan", clients.EVERY_SCOPE)
    assert clients.problem(own, 403, "FORBIDDEN")["reason"] == "four_eyes"
    elsewhere = await _decide(admin, path, "approve", "steward-thu", ENTERPRISE)
    assert clients.problem(elsewhere, 403, "FORBIDDEN")["reason"] == "scope"
    approved = await _decide(admin, path, "approve", "steward-minh", POPULATION)
    assert approved.json()["status"] == "approved", approved.text
    history = (await admin.admin("GET", path + "/versions")).json()
    assert [(v["status"], v["changed_by"]) for v in history] == [
        ("submitted", "steward-lan"),
        ("approved", "steward-minh"),
    ]
    suspended = await _decide(admin, path, "suspend", "steward-lan", clients.EVERY_SCOPE,
                              note="đầu nhận không phản hồi")  # fmt: skip
    assert suspended.json()["status"] == "suspended"


async def test_an_event_type_revealing_what_no_agreement_gives_is_refused(admin: Process) -> None:
    refused = clients.problem(
        await _propose(admin, name="tu-vong", event_types=["resident.deceased"]),
        422,
        "BAD_USER_INPUT",
    )
    assert refused["argument"] == "event_types"
    assert refused["uncovered"] == ["Resident.deceased", "Resident.deceasedOn"]


@pytest.mark.parametrize(
    ("body", "argument"),
    [
        ({"name": "x1", "event_types": ["resident.moved"]}, "event_types"),
        ({"name": "x2", "event_types": ["resident.name_changed"],
          "endpoint": "http://motcua.danang.gov.vn/hook"}, "endpoint"),
        ({"name": "x3", "event_types": ["resident.name_changed"], "endpoint": "ftp://a/b"},
         "endpoint"),
        ({"name": "x4", "event_types": ["resident.name_changed"], "agency": "khong-co"},
         "agency"),
        ({"name": "x5", "event_types": ["resident.name_changed"], "purpose": "KHONG-CO"},
         "purpose"),
        ({"name": "Bad Name", "event_types": ["resident.name_changed"]}, "body.name"),
        ({"name": "x6", "event_types": []}, "body.event_types"),
    ],
)  # fmt: skip
async def test_bad_subscriptions_are_refused_with_the_argument_named(
    admin: Process, body: dict[str, Any], argument: str
) -> None:
    assert clients.problem(await _propose(admin, **body), 422, "BAD_USER_INPUT")["argument"] == (
        argument
    )


async def test_a_loopback_receiver_is_allowed_outside_production(admin: Process) -> None:
    local = await _propose(admin, name="thu-nghiem", event_types=["resident.name_changed"],
                           endpoint="http://127.0.0.1:9/hook")  # fmt: skip
    assert local.status_code == 201, local.text
    again = await _propose(admin, name="thu-nghiem", event_types=["resident.name_changed"])
    clients.problem(again, 409, "CONFLICT")


async def test_the_subject_key_every_payload_names_must_be_granted_too(admin: Process) -> None:
    """The bank's agreement gives names, not the personal ID: an event naming its subject would
    disclose the ID, so the subscription is refused with it named."""
    bank = {"agency": "nganhang-abc", "purpose": "TD-VAY"}
    body = {**bank, "name": "ten", "event_types": ["resident.name_changed"]}
    refused = await admin.admin("POST", "/subscriptions", json=body)
    assert clients.problem(refused, 422, "BAD_USER_INPUT")["uncovered"] == ["Resident.id"]
