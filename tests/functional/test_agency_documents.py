"""Agency documents as managed data, across two gateway processes in prod: proposed through one,
approved by stewards of every registry they read, run by the agency through the other without
restart, and refused on the next request once revoked or once an agreement they rely on ends."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.policy.service import load_policy_document
from lienthong.resources import SAMPLE_POLICY
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import clients, factories
from tests.clients import Process

TAX = "thue-hcm"
ENTERPRISE_QUERY = """
query TaxpayerCheck($code: ID!) {
  enterprise(code: $code) {
    name
    status
    ...Representatives
  }
}
fragment Representatives on Enterprise { legalRepresentatives { title resident { fullName } } }
"""
POPULATION = ("steward", "steward:population")
ENTERPRISE = ("steward", "steward:enterprise")


@dataclass
class World:
    code: str  # an enterprise with one legal representative
    a: Process
    b: Process


@pytest.fixture(scope="module")
async def world(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    document = json.loads(SAMPLE_POLICY.read_text(encoding="utf-8"))
    settings = Settings(
        database_url=committed_database_url,
        home=tmp_path_factory.mktemp("documents-home"),
        officer_required=False,
    )
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=document, actor="etl")
            enterprise = await factories.make_enterprise(session)
            director = await factories.make_resident(session, full_name="Phạm Văn Đức")
            await factories.make_representative(session, enterprise=enterprise, resident=director)
    finally:
        await engine.dispose()
    async with clients.processes(settings) as (a, b):
        a.prod()
        b.prod()
        yield World(enterprise.enterprise_code, a, b)


async def _propose(process: Process, text: str, **kwargs: Any) -> httpx.Response:
    body = {"agency": TAX, "purpose": "DKKD", "text": text, **kwargs}
    return await process.admin("POST", "/documents", json=body)


async def _decide(
    process: Process, name: str, action: str, steward: str, roles: tuple[str, ...], **body: Any
) -> httpx.Response:
    path = f"/documents/{TAX}/{name}"
    read = await process.admin("GET", path)
    return await process.http.post(
        f"/admin{path}/{action}",
        json=body or None,
        headers={**process.steward(steward, roles), "If-Match": read.headers["ETag"]},
    )


def _run(name: str, code: str) -> dict[str, Any]:
    return {"operationName": name, "variables": {"code": code}}


async def test_a_document_is_approved_by_each_registry_and_runs_in_the_other_process(
    world: World,
) -> None:
    proposed = await _propose(world.a, ENTERPRISE_QUERY)
    assert proposed.status_code == 201, proposed.text
    body = proposed.json()
    assert body["status"] == "submitted"
    assert body["reaches"] == ["Enterprise", "Resident"]
    assert body["needs"] == ["enterprise", "population"]
    assert proposed.headers["Location"] == f"/admin/documents/{TAX}/TaxpayerCheck"

    waiting = await world.b.graphql(_run("TaxpayerCheck", world.code), agency=TAX, purpose="DKKD")
    assert waiting["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    own = await _decide(world.b, "TaxpayerCheck", "approve", "steward-lan", clients.EVERY_SCOPE)
    assert clients.problem(own, 403, "FORBIDDEN")["reason"] == "four_eyes"
    plain = await _decide(world.b, "TaxpayerCheck", "approve", "steward-hai", ("steward",))
    assert clients.problem(plain, 403, "FORBIDDEN")["reason"] == "scope"

    first = await _decide(world.b, "TaxpayerCheck", "approve", "steward-minh", POPULATION)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "submitted"  # the enterprise registry has not decided
    assert first.json()["approvals"] == {"population": "steward-minh"}
    again = await _decide(world.b, "TaxpayerCheck", "approve", "steward-nga", POPULATION)
    assert clients.problem(again, 403, "FORBIDDEN")["reason"] == "scope"

    second = await _decide(world.a, "TaxpayerCheck", "approve", "steward-thu", ENTERPRISE)
    assert second.json()["status"] == "approved"
    assert second.json()["approvals"] == {"enterprise": "steward-thu", "population": "steward-minh"}

    # b had looked the name up before the approval: its next request finds it
    by_name = await world.b.graphql(_run("TaxpayerCheck", world.code), agency=TAX, purpose="DKKD")
    assert by_name["data"]["enterprise"] == {
        "name": "Công ty TNHH Thương mại Sông Hàn",
        "status": "active",
        "legalRepresentatives": [{"title": "Giám đốc", "resident": {"fullName": "Phạm Văn Đức"}}],
    }
    manifest = await world.b.manifest(TAX)
    operation = manifest["TaxpayerCheck"]
    assert operation["id"] == hashlib.sha256(operation["body"].encode()).hexdigest()
    by_hash = await world.a.graphql(
        {
            "variables": {"code": world.code},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": operation["id"]}},
        },
        agency=TAX,
        purpose="DKKD",
    )
    assert by_hash["data"] == by_name["data"]
    history = await world.a.admin("GET", f"/documents/{TAX}/TaxpayerCheck/versions")
    assert [(v["status"], v["changed_by"]) for v in history.json()] == [
        ("submitted", "steward-lan"),
        ("submitted", "steward-minh"),
        ("approved", "steward-thu"),
    ]


async def test_another_agency_neither_sees_nor_runs_it(world: World) -> None:
    assert "TaxpayerCheck" not in await world.a.manifest("motcua-danang")
    foreign = await world.a.graphql(
        _run("TaxpayerCheck", world.code), agency="motcua-danang", purpose="DKKD"
    )
    assert foreign["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    text = await world.a.graphql(
        {"query": ENTERPRISE_QUERY, "variables": {"code": world.code}},
        agency="motcua-danang",
        purpose="DKKD",
    )
    assert text["errors"][0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"


async def test_it_runs_for_its_own_purpose_only(world: World) -> None:
    other = await world.b.graphql(_run("TaxpayerCheck", world.code), agency=TAX, purpose="CT01")
    assert other["errors"][0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"
    assert "data" not in other or other["data"] is None


@pytest.mark.parametrize(
    ("text", "argument", "says"),
    [
        ("query Q($c: ID!) { enterprise(code: $c) { legalRepresentatives { resident { "
         "fullName birthDate } } } }", "text",
         "Resident.birthDate (via Enterprise.legalRepresentatives)"),
        ('query Q { prefill(form: "CT01", subject: "048085000001") { form } }', "text", "prefill"),
        ("query Q { myConsents { id } }", "text", "myConsents"),
        ('mutation M { closeDossier(number: "x") { number } }', "text", "one query"),
        ("query Q { enterprise(code: 1) { nam } }", "text", "Cannot query field 'nam'"),
        ("query Q { enterprise(", "text", "not a GraphQL document"),
        ("{ enterprise(code: \"0100109106\") { name } }", "text", "named operation"),
        ('query A { adminUnit(code: "48") { name } } query B { adminUnit(code: "1") { name } }',
         "text", "exactly one"),
    ],
)  # fmt: skip
async def test_a_document_the_agreements_or_the_rules_do_not_allow_is_refused(
    world: World, text: str, argument: str, says: str
) -> None:
    refused = clients.problem(await _propose(world.a, text), 422, "BAD_USER_INPUT")
    assert refused["argument"] == argument
    assert says in refused["detail"]


async def test_the_refusal_lists_every_read_no_agreement_gives(world: World) -> None:
    text = (
        "query Q($c: ID!) { enterprise(code: $c) { name legalRepresentatives { resident { id sex "
        "} } } }"
    )
    refused = clients.problem(await _propose(world.a, text), 422, "BAD_USER_INPUT")
    assert refused["uncovered"] == [
        "Resident.id (via Enterprise.legalRepresentatives)",
        "Resident.sex (via Enterprise.legalRepresentatives)",
    ]


async def test_names_and_parties_are_checked(world: World) -> None:
    published = 'query ResidentCT01 { adminUnit(code: "48") { name } }'
    clients.problem(await _propose(world.a, published), 409, "CONFLICT")
    again = clients.problem(await _propose(world.a, ENTERPRISE_QUERY), 409, "CONFLICT")
    assert "change it" in again["detail"]
    unknown = await _propose(world.a, ENTERPRISE_QUERY, agency="khong-co")
    assert clients.problem(unknown, 422, "BAD_USER_INPUT")["argument"] == "agency"
    purpose = await _propose(world.a, ENTERPRISE_QUERY, purpose="KHONG-CO")
    assert clients.problem(purpose, 422, "BAD_USER_INPUT")["argument"] == "purpose"
    missing = await world.a.admin("GET", f"/documents/{TAX}/KhongCo")
    clients.problem(missing, 404, "NOT_FOUND")


async def test_a_document_is_refused_once_an_agreement_it_relies_on_ends(world: World) -> None:
    text = "query TaxpayerName($code: ID!) { enterprise(code: $code) { name } }"
    assert (await _propose(world.a, text)).status_code == 201
    approved = await _decide(world.a, "TaxpayerName", "approve", "steward-thu", ENTERPRISE)
    assert approved.json()["status"] == "approved"
    run = _run("TaxpayerName", world.code)
    assert (await world.b.graphql(run, agency=TAX, purpose="DKKD"))["data"]["enterprise"]

    agreement = f"/agreements/{TAX}/DKKD/Enterprise"
    read = await world.a.admin("GET", agreement)
    ended = await world.a.admin(
        "POST", agreement + "/expire", headers={"If-Match": read.headers["ETag"]}
    )
    assert ended.status_code == 200, ended.text
    refused = await world.b.graphql(run, agency=TAX, purpose="DKKD")
    assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert refused["data"] is None
    assert "TaxpayerName" not in await world.b.manifest(TAX)


async def test_a_revoked_document_is_refused_on_the_next_request(world: World) -> None:
    # after the agreement above ended nothing of the enterprise registry runs: a new scope
    text = "query LandHolder($id: ID!) { parcel(id: $id) { area } }"
    body = {"agency": "tainguyen-danang", "purpose": "CPXD", "text": text}
    assert (await world.a.admin("POST", "/documents", json=body)).status_code == 201
    path = "/documents/tainguyen-danang/LandHolder"
    read = await world.a.admin("GET", path)
    approve = await world.a.http.post(
        f"/admin{path}/approve",
        headers={**world.a.steward("steward-dat", ("steward:land",)),
                 "If-Match": read.headers["ETag"]},
    )  # fmt: skip
    assert approve.json()["status"] == "approved", approve.text
    run = {"operationName": "LandHolder", "variables": {"id": "w3gv2c8mq4rt"}}
    ok = await world.b.graphql(run, agency="tainguyen-danang", purpose="CPXD")
    assert "errors" not in ok, ok
    assert ok["data"] == {"parcel": None}  # no such parcel: absent, but the document runs

    read = await world.a.admin("GET", path)
    revoke = await world.a.http.post(
        f"/admin{path}/revoke",
        json={"note": "thay bằng tài liệu mới"},
        headers={**world.a.steward("steward-lan"), "If-Match": read.headers["ETag"]},
    )
    assert revoke.json()["status"] == "revoked"
    refused = await world.b.graphql(run, agency="tainguyen-danang", purpose="CPXD")
    assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    changed = await world.a.admin(
        "PUT", path, json={"text": text}, headers={"If-Match": revoke.headers["ETag"]}
    )
    clients.problem(changed, 409, "CONFLICT")
