"""`/admin` end to end through HTTP (the whole gateway app, lifespan included, its own committed
database): steward-only access, problem+json errors, ETags, four-eyes review, stewards scoped to
their registries (and provinces) and the platform's administrator, and the effect of an approval
or a suspension on the very next GraphQL request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.history import VIETNAM_TIME
from tests import clients, factories
from tests.clients import problem
from tests.graphql_world import SAMPLE_POLICY

PROBLEM = "application/problem+json"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"


@dataclass
class World:
    resident: str


@pytest.fixture(scope="module")
def admin_settings(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(database_url=committed_database_url, home=tmp_path_factory.mktemp("admin-home"))


@pytest.fixture(scope="module")
async def world(admin_settings: Settings) -> World:
    engine = create_engine(admin_settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            resident = await factories.make_resident(session, full_name="Lê Thị Hoa")
    finally:
        await engine.dispose()
    return World(resident=resident.personal_id)


class Client(clients.Caller):
    """HTTP against the app, as a steward (by name), an agency or a citizen."""

    async def call(
        self, method: str, path: str, *, steward: str = "steward-lan", etag: str | None = None,
        headers: dict[str, str] | None = None, roles: tuple[str, ...] = clients.EVERY_SCOPE,
        **kwargs: Any,
    ) -> httpx.Response:  # fmt: skip
        sent = {
            **self.steward(steward, roles),
            **({"If-Match": etag} if etag else {}),
            **(headers or {}),
        }
        return await self.http.request(method, f"/admin{path}", headers=sent, **kwargs)

    async def graphql(
        self, agency: str, purpose: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        answer = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={**self.agency(agency), "X-Purpose": purpose},
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(scope="module")
async def client(admin_settings: Settings, world: World) -> AsyncIterator[Client]:
    async with clients.app_client(admin_settings) as http:
        yield Client(http, DevIssuer(admin_settings))


async def test_the_openapi_document_is_published(client: Client) -> None:
    answer = await client.http.get("/admin/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert "/agencies" in paths
    assert "/agreements/{agreement_id}/approve" in paths
    assert answer.json()["servers"] == [{"url": "/admin"}]


ENDPOINTS = [
    ("GET", "/agencies"),
    ("POST", "/agencies"),
    ("GET", "/agreements"),
    ("POST", "/agreements/motcua-danang/CT01/Resident/approve"),
    ("GET", "/purposes"),
    ("GET", "/forms"),
    ("PUT", "/forms/CT01"),
    ("GET", "/consents?agency=motcua-danang"),
    ("POST", "/consents/paper"),
    ("GET", "/audit"),
    ("GET", "/audit/export.csv"),
    ("GET", "/audit/daily-counts?since=2026-01-01&until=2026-01-31"),
    ("GET", "/explain?agency=x1&purpose=CT01&type=Resident&subject=1&field=id"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_only_stewards_get_in(client: Client, world: World, method: str, path: str) -> None:
    for headers in (client.agency(), client.citizen(world.resident)):
        answer = await client.http.request(method, f"/admin{path}", headers=headers, json={})
        body = problem(answer, 403, "FORBIDDEN")
        assert body["reason"] == "steward role required"
    anonymous = await client.http.request(method, f"/admin{path}", json={})
    problem(anonymous, 401, "UNAUTHENTICATED")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


async def test_agency_register_edit_and_history(client: Client) -> None:
    new = {"client_id": "bhxh-hue", "name": "BHXH Huế", "kind": "insurance", "province": "46"}
    created = await client.call("POST", "/agencies", json=new)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/admin/agencies/bhxh-hue"
    assert created.json()["status"] == "active"
    assert created.json()["province"] == "46"
    assert created.json()["changed_by"] == "steward-lan"
    problem(await client.call("POST", "/agencies", json=new), 409, "CONFLICT")

    etag = created.headers["ETag"]
    renamed = {"name": "Bảo hiểm xã hội Huế"}
    problem(await client.call("PATCH", "/agencies/bhxh-hue", json=renamed), 428,
            "PRECONDITION_REQUIRED")  # fmt: skip
    changed = await client.call("PATCH", "/agencies/bhxh-hue", json=renamed, etag=etag,
                                steward="steward-minh")  # fmt: skip
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    stale = await client.call("PATCH", "/agencies/bhxh-hue", json={"kind": "x"}, etag=etag)
    assert problem(stale, 412, "PRECONDITION_FAILED")["current_etag"] == changed.headers["ETag"]
    national = await client.call("PATCH", "/agencies/bhxh-hue", json={"province": None},
                                 etag=changed.headers["ETag"])  # fmt: skip
    assert national.json()["province"] is None
    unnamed = await client.call("PATCH", "/agencies/bhxh-hue", json={"name": None},
                                etag=national.headers["ETag"])  # fmt: skip
    assert problem(unnamed, 422, "BAD_USER_INPUT")["argument"] == "name"

    history = (await client.call("GET", "/agencies/bhxh-hue/versions")).json()
    assert [(v["name"], v["province"], v["changed_by"]) for v in history] == [
        ("BHXH Huế", "46", "steward-lan"),
        ("Bảo hiểm xã hội Huế", "46", "steward-minh"),
        ("Bảo hiểm xã hội Huế", None, "steward-lan"),
    ]
    assert history[0]["valid_to"] == history[1]["valid_from"]
    read = await client.call("GET", "/agencies/bhxh-hue")
    assert read.headers["ETag"] == national.headers["ETag"]
    problem(await client.call("GET", "/agencies/nobody"), 404, "NOT_FOUND")


# A steward of every registry who does not administer the platform
REGISTRIES_ONLY = tuple(role for role in clients.EVERY_SCOPE if role != "admin")


async def test_only_the_platforms_administrator_registers_edits_and_suspends_agencies(
    client: Client,
) -> None:
    new = {"client_id": "sotuphap-hue", "name": "Sở Tư pháp Huế", "kind": "justice"}
    refused = await client.call("POST", "/agencies", json=new, roles=REGISTRIES_ONLY)
    body = problem(refused, 403, "FORBIDDEN")
    assert body["reason"] == "scope"
    assert "role admin" in body["detail"]
    assert (await client.call("GET", "/agencies/sotuphap-hue")).status_code == 404
    created = await client.call("POST", "/agencies", json=new)
    etag = created.headers["ETag"]
    path = "/agencies/sotuphap-hue"
    for method, suffix, body_ in (("PATCH", "", {"name": "x"}), ("POST", "/suspend", None)):
        answer = await client.call(method, path + suffix, json=body_, etag=etag,
                                   roles=REGISTRIES_ONLY)  # fmt: skip
        assert problem(answer, 403, "FORBIDDEN")["reason"] == "scope"
    unchanged = await client.call("GET", path)
    assert (unchanged.headers["ETag"], unchanged.json()["status"]) == (etag, "active")


@pytest.mark.parametrize(
    ("body", "argument"),
    [
        ({"client_id": "Bad Id", "name": "x", "kind": "x"}, "body.client_id"),
        ({"client_id": "ok-id", "name": "", "kind": "x"}, "body.name"),
        ({"client_id": "ok-id", "name": "a\x00b", "kind": "x"}, "body.name"),
        ({"client_id": "ok-id", "name": "x", "kind": "x", "extra": 1}, "body.extra"),
        ({"client_id": "ok-id"}, "body.name"),
        ({"client_id": "ok-id", "name": "x", "kind": "x", "province": "4"}, "body.province"),
        ({"client_id": "ok-id", "name": "x", "kind": "x", "province": "048"}, "body.province"),
        ({"client_id": "ok-id", "name": "x", "kind": "x", "province": "٤٨"}, "body.province"),
    ],
)
async def test_bad_agency_input(client: Client, body: dict[str, Any], argument: str) -> None:
    answer = problem(await client.call("POST", "/agencies", json=body), 422, "BAD_USER_INPUT")
    assert answer["argument"] == argument
    assert answer["detail"].startswith(argument)


async def test_pages_and_cursors(client: Client) -> None:
    first = (await client.call("GET", "/agencies?limit=2")).json()
    assert len(first["items"]) == 2
    second = (await client.call("GET", f"/agencies?limit=2&cursor={first['next_cursor']}")).json()
    names = [a["client_id"] for a in first["items"] + second["items"]]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    bad = await client.call("GET", "/agencies?cursor=bm90IGEgY3Vyc29y")
    assert problem(bad, 422, "BAD_USER_INPUT")["argument"] == "cursor"
    too_big = await client.call("GET", "/agencies?limit=1000")
    assert problem(too_big, 422, "BAD_USER_INPUT")["argument"] == "query.limit"


async def _etag(client: Client, path: str) -> str:
    return (await client.call("GET", path)).headers["ETag"]


async def test_suspending_an_agency_denies_its_very_next_request(
    client: Client, world: World
) -> None:
    variables = {"id": world.resident}
    before = await client.graphql("motcua-danang", "CT01", RESIDENT, variables)
    assert before["data"]["resident"]["fullName"] == "Lê Thị Hoa"

    path = "/agencies/motcua-danang"
    suspended = await client.call("POST", f"{path}/suspend", etag=await _etag(client, path))
    assert suspended.json()["status"] == "suspended"
    during = await client.graphql("motcua-danang", "CT01", RESIDENT, variables)
    assert during["data"]["resident"] is None
    assert during["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    again = await client.call("POST", f"{path}/suspend", etag=suspended.headers["ETag"])
    problem(again, 409, "CONFLICT")
    # an edit while suspended changes nothing of who suspended it
    renamed = await client.call("PATCH", path, json={"kind": "one-stop centre"},
                                etag=suspended.headers["ETag"], steward="steward-minh")  # fmt: skip
    assert renamed.json()["status"] == "suspended"

    # four-eyes: who suspended it may not lift the suspension alone
    own = await client.call("POST", f"{path}/reactivate", etag=renamed.headers["ETag"])
    body = problem(own, 403, "FORBIDDEN")
    assert body["reason"] == "four_eyes"
    assert "steward-lan" in body["detail"]
    still = await client.graphql("motcua-danang", "CT01", RESIDENT, variables)
    assert still["data"]["resident"] is None
    not_admin = await client.call("POST", f"{path}/reactivate", etag=renamed.headers["ETag"],
                                  steward="steward-hai", roles=REGISTRIES_ONLY)  # fmt: skip
    assert problem(not_admin, 403, "FORBIDDEN")["reason"] == "scope"

    reactivated = await client.call("POST", f"{path}/reactivate", etag=renamed.headers["ETag"],
                                    steward="steward-minh")  # fmt: skip
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["status"] == "active"
    after = await client.graphql("motcua-danang", "CT01", RESIDENT, variables)
    assert after["data"]["resident"]["fullName"] == "Lê Thị Hoa"
    history = (await client.call("GET", f"{path}/versions")).json()
    assert [(v["status"], v["changed_by"]) for v in history[-3:]] == [
        ("suspended", "steward-lan"),
        ("suspended", "steward-minh"),
        ("active", "steward-minh"),
    ]


BHXH_AGREEMENT = {
    "agency": "bhxh-danang",
    "purpose": "BHXH-TT",
    "subject_type": "Resident",
    "fields": ["id", "fullName", "birthDate"],
    "legal_basis": "Luật Bảo hiểm xã hội 2024",
    "effective_from": "2025-07-01T00:00:00Z",
    "masking": {"birthDate": "year_only"},
}


async def _approve(client: Client, path: str, proposal: httpx.Response) -> httpx.Response:
    """A proposal approved by another steward (the proposer here is steward-lan)."""
    assert proposal.status_code == 202, proposal.text
    approved = await client.call("POST", f"{path}/approve", etag=proposal.headers["ETag"],
                                 steward="steward-minh")  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    return approved


async def _bhxh(client: Client) -> None:
    """The agency and purpose the agreement tests use (registered once)."""
    if (await client.call("GET", "/agencies/bhxh-danang")).status_code == 404:
        agency = {"client_id": "bhxh-danang", "name": "BHXH Đà Nẵng", "kind": "insurance"}
        assert (await client.call("POST", "/agencies", json=agency)).status_code == 201
        purpose = {"code": "BHXH-TT", "title": "Tra cứu BHXH", "procedure": "Cấp sổ BHXH"}
        await _approve(client, "/purposes/BHXH-TT", await client.call("POST", "/purposes",
                                                                      json=purpose))  # fmt: skip


async def test_an_approval_by_another_steward_allows_the_very_next_request(
    client: Client, world: World, admin_settings: Settings
) -> None:
    await _bhxh(client)
    variables = {"id": world.resident}
    denied = await client.graphql("bhxh-danang", "BHXH-TT", RESIDENT, variables)
    assert denied["data"]["resident"] is None
    bundle_before = await client.http.get("/bundles/lienthong.tar.gz")

    created = await client.call("POST", "/agreements", json=BHXH_AGREEMENT)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    path = "/agreements/bhxh-danang/BHXH-TT/Resident"
    assert created.headers["Location"] == f"/admin{path}"
    problem(await client.call("POST", "/agreements", json=BHXH_AGREEMENT), 409, "CONFLICT")
    draft_approval = await client.call("POST", f"{path}/approve", etag=created.headers["ETag"],
                                       steward="steward-minh")  # fmt: skip
    problem(draft_approval, 409, "CONFLICT")

    submitted = await client.call("POST", f"{path}/submit", etag=created.headers["ETag"])
    assert submitted.json()["status"] == "submitted"
    etag = submitted.headers["ETag"]
    own = await client.call("POST", f"{path}/approve", etag=etag)
    assert problem(own, 403, "FORBIDDEN")["reason"] == "four_eyes"
    stale = await client.call("POST", f"{path}/approve", etag=created.headers["ETag"],
                              steward="steward-minh")  # fmt: skip
    problem(stale, 412, "PRECONDITION_FAILED")
    still = await client.graphql("bhxh-danang", "BHXH-TT", RESIDENT, variables)
    assert still["data"]["resident"] is None

    approved = await client.call("POST", f"{path}/approve", etag=etag, steward="steward-minh")
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == "steward-minh"
    allowed = await client.graphql("bhxh-danang", "BHXH-TT", RESIDENT, variables)
    assert allowed["data"]["resident"] == {"fullName": "Lê Thị Hoa", "birthDate": "1985"}
    bundle_after = await client.http.get("/bundles/lienthong.tar.gz")
    assert bundle_after.headers["ETag"] != bundle_before.headers["ETag"]
    unchanged = await client.http.get(
        "/bundles/lienthong.tar.gz", headers={"If-None-Match": bundle_after.headers["ETag"]}
    )
    assert unchanged.status_code == 304

    no_reason = await client.call("POST", f"{path}/suspend", etag=approved.headers["ETag"])
    assert problem(no_reason, 422, "BAD_USER_INPUT")["argument"] == "body"
    suspended = await client.call("POST", f"{path}/suspend", etag=approved.headers["ETag"],
                                  json={"note": "audit finding 2026-14"})  # fmt: skip
    assert suspended.json()["status"] == "suspended"
    denied_again = await client.graphql("bhxh-danang", "BHXH-TT", RESIDENT, variables)
    assert denied_again["data"]["resident"] is None

    history = (await client.call("GET", f"{path}/versions")).json()
    assert [(v["status"], v["changed_by"]) for v in history] == [
        ("draft", "steward-lan"),
        ("submitted", "steward-lan"),
        ("approved", "steward-minh"),
        ("suspended", "steward-lan"),
    ]
    assert history[-1]["note"] == "audit finding 2026-14"
    assert all(v["valid_from"] for v in history)


async def test_rejection_edit_and_expiry(client: Client) -> None:
    await _bhxh(client)
    body = {**BHXH_AGREEMENT, "subject_type": "Household", "fields": ["id", "headId"],
            "masking": {}}  # fmt: skip
    created = await client.call("POST", "/agreements", json=body, steward="steward-hai")
    path = "/agreements/bhxh-danang/BHXH-TT/Household"
    submitted = await client.call("POST", f"{path}/submit", etag=created.headers["ETag"],
                                  steward="steward-hai")  # fmt: skip
    rejected = await client.call("POST", f"{path}/reject", etag=submitted.headers["ETag"],
                                 json={"note": "no legal basis for households"})  # fmt: skip
    assert rejected.json()["status"] == "rejected"
    edited = await client.call("PATCH", path, etag=rejected.headers["ETag"],
                               json={"legal_basis": "Nghị định 115/2015"})  # fmt: skip
    assert edited.json()["status"] == "draft"
    assert edited.json()["fields"] == ["id", "headId"]
    # the editor is an author now: the creator may approve, the editor may not
    resubmitted = await client.call("POST", f"{path}/submit", etag=edited.headers["ETag"])
    own = await client.call("POST", f"{path}/approve", etag=resubmitted.headers["ETag"])
    problem(own, 403, "FORBIDDEN")
    approved = await client.call("POST", f"{path}/approve", etag=resubmitted.headers["ETag"],
                                 steward="steward-hai")  # fmt: skip
    assert approved.json()["status"] == "approved"
    locked = await client.call(
        "PATCH", path, etag=approved.headers["ETag"], json={"fields": ["id"]}
    )
    problem(locked, 409, "CONFLICT")
    expired = await client.call("POST", f"{path}/expire", etag=approved.headers["ETag"])
    assert expired.json()["status"] == "expired"
    assert expired.json()["effective_to"] is not None


LAND_AGREEMENT = {
    "purpose": "CPXD",
    "subject_type": "Parcel",
    "fields": ["id", "parcelNumber", "area"],
    "legal_basis": "Luật Đất đai 2024",
    "effective_from": "2025-07-01T00:00:00Z",
}
POPULATION_STEWARD = ("steward", "steward:population")
LAND_STEWARD = ("steward", "steward:land")
DA_NANG_LAND_STEWARD = ("steward", "steward:land:48")


async def _submitted_land_agreement(client: Client, agency: str, province: str | None) -> str:
    """A submitted agreement giving `agency` parcels (the agency registered first); its ETag."""
    new = {"client_id": agency, "name": agency, "kind": "land-office", "province": province}
    assert (await client.call("POST", "/agencies", json=new)).status_code == 201
    created = await client.call("POST", "/agreements", json={**LAND_AGREEMENT, "agency": agency})
    assert created.status_code == 201, created.text
    submitted = await client.call("POST", f"/agreements/{agency}/CPXD/Parcel/submit",
                                  etag=created.headers["ETag"])  # fmt: skip
    return str(submitted.headers["ETag"])


async def test_land_agreements_are_decided_by_the_land_registrys_stewards(client: Client) -> None:
    etag = await _submitted_land_agreement(client, "vpdk-quocgia", None)
    path = "/agreements/vpdk-quocgia/CPXD/Parcel"
    for action, body in (("approve", None), ("reject", {"note": "not ours to say"})):
        refused = await client.call("POST", f"{path}/{action}", etag=etag, json=body,
                                    steward="steward-dan", roles=POPULATION_STEWARD)  # fmt: skip
        answer = problem(refused, 403, "FORBIDDEN")
        assert answer["reason"] == "scope"
        assert "land" in answer["detail"]
    # a province's land steward does not decide for a national agency
    provincial = await client.call("POST", f"{path}/approve", etag=etag, steward="steward-tam",
                                   roles=DA_NANG_LAND_STEWARD)  # fmt: skip
    assert problem(provincial, 403, "FORBIDDEN")["reason"] == "scope"
    assert (await client.call("GET", path)).json()["status"] == "submitted"

    approved = await client.call("POST", f"{path}/approve", etag=etag, steward="steward-dat",
                                 roles=LAND_STEWARD)  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approved_by"]) == (
        "approved", "steward-dat"
    )  # fmt: skip


async def test_a_provinces_land_steward_decides_for_that_provinces_agencies(
    client: Client,
) -> None:
    etag = await _submitted_land_agreement(client, "vpdk-danang", "48")
    path = "/agreements/vpdk-danang/CPXD/Parcel"
    elsewhere = await client.call("POST", f"{path}/approve", etag=etag, steward="steward-hue",
                                  roles=("steward", "steward:land:46"))  # fmt: skip
    assert problem(elsewhere, 403, "FORBIDDEN")["reason"] == "scope"
    approved = await client.call("POST", f"{path}/approve", etag=etag, steward="steward-tam",
                                 roles=DA_NANG_LAND_STEWARD)  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == "steward-tam"


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"agency": "nobody-here"}, "agency"),
        ({"purpose": "NOPE"}, "purpose"),
        ({"fields": ["fullName", "shoeSize"]}, "fields"),
        ({"masking": {"religion": "year_only"}}, "masking"),
        ({"masking": {"birthDate": "blur"}}, "masking"),
        ({"via": ["Resident.nothing"]}, "via"),
        ({"effective_to": "2025-01-01T00:00:00Z"}, "effective_to"),
        ({"effective_from": "9999-01-01T00:00:00Z"}, "body.effective_from"),
        ({"effective_from": "2025-07-01T00:00:00"}, "body.effective_from"),
        ({"subject_type": "Citizen"}, "body.subject_type"),
        ({"fields": []}, "body.fields"),
    ],
)
async def test_bad_agreement_input(client: Client, change: dict[str, Any], argument: str) -> None:
    await _bhxh(client)
    body = {**BHXH_AGREEMENT, "subject_type": "Enterprise", "fields": ["name"], "masking": {},
            **change}  # fmt: skip
    answer = await client.call("POST", "/agreements", json=body)
    assert problem(answer, 422, "BAD_USER_INPUT")["argument"] == argument


async def test_purposes_are_proposed_then_approved_by_the_platforms_administrator(
    client: Client,
) -> None:
    listed = (await client.call("GET", "/purposes?limit=100")).json()["items"]
    assert "CT01" in [p["code"] for p in listed]
    read = await client.call("GET", "/purposes/DKKD")
    etag, title = read.headers["ETag"], read.json()["title"]
    change = {"title": "Đối chiếu đăng ký doanh nghiệp"}
    problem(await client.call("PATCH", "/purposes/DKKD", json=change), 428,
            "PRECONDITION_REQUIRED")  # fmt: skip
    proposed = await client.call("PATCH", "/purposes/DKKD", etag=etag, json=change)
    assert proposed.status_code == 202, proposed.text
    assert proposed.json()["status"] == "submitted"
    assert proposed.json()["proposed"]["title"] == "Đối chiếu đăng ký doanh nghiệp"
    assert (proposed.json()["needs"], proposed.json()["approvals"]) == (["platform"], {})
    # the version in force stays until approved; the list shows the change pending
    in_force = await client.call("GET", "/purposes/DKKD")
    assert (in_force.json()["title"], in_force.headers["ETag"]) == (title, etag)
    assert in_force.json()["status"] == "in_force"
    assert in_force.json()["pending"]["version"] == proposed.json()["version"]
    nothing = await client.call("PATCH", "/purposes/DKKD", etag=etag, json={"title": title})
    assert problem(nothing, 422, "BAD_USER_INPUT")["argument"] == "body"

    path = "/purposes/DKKD"
    pending = await client.call("GET", f"{path}/proposal")
    assert pending.headers["ETag"] == proposed.headers["ETag"]
    own = await client.call("POST", f"{path}/approve", etag=proposed.headers["ETag"])
    assert problem(own, 403, "FORBIDDEN")["reason"] == "four_eyes"
    registry_steward = await client.call("POST", f"{path}/approve", etag=proposed.headers["ETag"],
                                         steward="steward-minh", roles=REGISTRIES_ONLY)  # fmt: skip
    body = problem(registry_steward, 403, "FORBIDDEN")
    assert body["reason"] == "scope"
    assert "platform" in body["detail"]
    stale = await client.call("POST", f"{path}/approve", etag=etag, steward="steward-minh")
    problem(stale, 412, "PRECONDITION_FAILED")
    unsaid = await client.call("POST", f"{path}/reject", etag=proposed.headers["ETag"],
                               steward="steward-minh", json={})  # fmt: skip
    assert problem(unsaid, 422, "BAD_USER_INPUT")["argument"] == "body.note"
    assert (await client.call("GET", path)).json()["title"] == title

    approved = await _approve(client, path, proposed)
    assert approved.json()["approvals"] == {"platform": "steward-minh"}
    after = await client.call("GET", path)
    assert after.json()["title"] == "Đối chiếu đăng ký doanh nghiệp"
    assert (after.json()["changed_by"], after.json()["approved_by"]) == (
        "steward-lan", "steward-minh"
    )  # fmt: skip
    assert after.json()["pending"] is None
    again = await client.call("POST", f"{path}/approve", etag=approved.headers["ETag"],
                              steward="steward-hai")  # fmt: skip
    problem(again, 409, "CONFLICT")
    problem(await client.call("GET", f"{path}/proposal"), 404, "NOT_FOUND")
    versions = (await client.call("GET", f"{path}/versions")).json()
    assert [(v["title"], v["changed_by"], v["approved_by"]) for v in versions[-2:]] == [
        (title, "etl", "etl"),
        ("Đối chiếu đăng ký doanh nghiệp", "steward-lan", "steward-minh"),
    ]
    decisions = (await client.call("GET", f"{path}/proposals")).json()
    assert [(p["status"], p["changed_by"]) for p in decisions] == [
        ("submitted", "steward-lan"),
        ("approved", "steward-minh"),
    ]

    problem(await client.call("GET", "/purposes/NOPE"), 404, "NOT_FOUND")
    bad = await client.call("POST", "/purposes", json={"code": "bad code", "title": "t",
                                                       "procedure": "p"})  # fmt: skip
    assert problem(bad, 422, "BAD_USER_INPUT")["argument"] == "body.code"
    existing = {"code": "DKKD", "title": "t", "procedure": "p"}
    problem(await client.call("POST", "/purposes", json=existing), 409, "CONFLICT")


async def test_a_new_purpose_is_listed_as_proposed_and_a_rejection_says_why(
    client: Client,
) -> None:
    new = {"code": "TT-THU", "title": "Thủ tục thử", "procedure": "Thử", "case_bound": True}
    proposed = await client.call("POST", "/purposes", json=new, steward="steward-hai")
    assert proposed.status_code == 202, proposed.text
    assert proposed.headers["Location"] == "/admin/purposes/TT-THU/proposal"
    listed = (await client.call("GET", "/purposes?limit=100")).json()["items"]
    (item,) = [p for p in listed if p["code"] == "TT-THU"]
    assert (item["status"], item["version"], item["case_bound"]) == ("proposed", None, True)
    assert item["pending"]["proposed_by"] == "steward-hai"
    read = await client.call("GET", "/purposes/TT-THU")
    assert read.json()["status"] == "proposed"
    assert "ETag" not in read.headers
    # not in the catalogue: an agreement for it is refused
    agreement = {**BHXH_AGREEMENT, "agency": "motcua-danang", "purpose": "TT-THU"}
    refused = await client.call("POST", "/agreements", json=agreement)
    assert problem(refused, 422, "BAD_USER_INPUT")["argument"] == "purpose"

    own = await client.call("POST", "/purposes/TT-THU/reject", etag=proposed.headers["ETag"],
                            steward="steward-hai", json={"note": "mine"})  # fmt: skip
    assert problem(own, 403, "FORBIDDEN")["reason"] == "four_eyes"
    rejected = await client.call("POST", "/purposes/TT-THU/reject", etag=proposed.headers["ETag"],
                                 json={"note": "no procedure of that name"})  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["note"]) == (
        "rejected", "no procedure of that name"
    )  # fmt: skip
    problem(await client.call("GET", "/purposes/TT-THU"), 404, "NOT_FOUND")
    listed = (await client.call("GET", "/purposes?limit=100")).json()["items"]
    assert "TT-THU" not in [p["code"] for p in listed]


async def test_forms_are_proposed_approved_by_their_registries_and_prefill_uses_them(
    client: Client, world: World
) -> None:
    forms = {f["code"]: f for f in (await client.call("GET", "/forms")).json()}
    assert set(forms) >= {"CT01", "HKD01", "XD01"}
    assert (forms["CT01"]["source"], forms["CT01"]["status"]) == ("file", "in_force")
    read = await client.call("GET", "/forms/CT01")
    template = {k: read.json()[k] for k in ("title", "procedure", "legal_reference", "purpose",
                                             "subject_type", "fields")}  # fmt: skip
    template["fields"] = [
        *template["fields"],
        {"key": "ho_ten_2", "label": "Tên", "path": "fullName"},
    ]
    problem(await client.call("PUT", "/forms/CT01", json=template), 428, "PRECONDITION_REQUIRED")
    broken = {**template, "fields": [{"key": "x", "label": "X", "path": "shoeSize"}]}
    wrong = await client.call("PUT", "/forms/CT01", json=broken, etag=read.headers["ETag"])
    assert "no field 'shoeSize'" in problem(wrong, 422, "BAD_USER_INPUT")["detail"]
    proposed = await client.call("PUT", "/forms/CT01", json=template, etag=read.headers["ETag"])
    assert proposed.status_code == 202, proposed.text
    # a resident's form reaching the household: the population registry's stewards decide it
    assert proposed.json()["needs"] == ["population"]
    prefill = """query($s: ID!) { prefill(form: "CT01", subject: $s) { fields { key value } } }"""

    async def values() -> dict[str, Any]:
        answer = await client.graphql("motcua-danang", "CT01", prefill, {"s": world.resident})
        return {f["key"]: f["value"] for f in answer["data"]["prefill"]["fields"]}

    assert "ho_ten_2" not in await values()  # the form in force runs until approved
    listed = {f["code"]: f for f in (await client.call("GET", "/forms")).json()}
    assert listed["CT01"]["pending"]["version"] == proposed.json()["version"]
    assert len(listed["CT01"]["fields"]) == len(template["fields"]) - 1

    path = "/forms/CT01"
    land_only = await client.call("POST", f"{path}/approve", etag=proposed.headers["ETag"],
                                  steward="steward-dat", roles=LAND_STEWARD)  # fmt: skip
    body = problem(land_only, 403, "FORBIDDEN")
    assert (body["reason"], "population" in body["detail"]) == ("scope", True)
    own = await client.call("POST", f"{path}/approve", etag=proposed.headers["ETag"])
    assert problem(own, 403, "FORBIDDEN")["reason"] == "four_eyes"
    approved = await client.call("POST", f"{path}/approve", etag=proposed.headers["ETag"],
                                 steward="steward-dan", roles=POPULATION_STEWARD)  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert approved.json()["approvals"] == {"population": "steward-dan"}
    assert (await values())["ho_ten_2"] == "Lê Thị Hoa"
    saved = await client.call("GET", path)
    assert (saved.json()["source"], saved.json()["changed_by"], saved.json()["approved_by"]) == (
        "steward", "steward-lan", "steward-dan"
    )  # fmt: skip
    stale = await client.call("PUT", path, json=template, etag=read.headers["ETag"])
    problem(stale, 412, "PRECONDITION_FAILED")


async def test_a_form_reaching_several_registries_needs_a_steward_of_each(
    client: Client,
) -> None:
    read = await client.call("GET", "/forms/XD01")
    template = {k: read.json()[k] for k in ("title", "procedure", "legal_reference", "purpose",
                                             "subject_type", "fields")}  # fmt: skip
    template["title"] = "Đơn đề nghị cấp giấy phép xây dựng (mẫu 01)"
    proposed = await client.call("PUT", "/forms/XD01", json=template, etag=read.headers["ETag"])
    assert proposed.status_code == 202, proposed.text
    # the parcel, and its rights' holders: residents or enterprises
    assert proposed.json()["needs"] == ["enterprise", "land", "population"]
    path = "/forms/XD01"
    land = await client.call("POST", f"{path}/approve", etag=proposed.headers["ETag"],
                             steward="steward-dat", roles=LAND_STEWARD)  # fmt: skip
    assert land.status_code == 200, land.text
    assert (land.json()["status"], land.json()["approvals"]) == (
        "submitted",
        {"land": "steward-dat"},
    )
    again = await client.call("POST", f"{path}/approve", etag=land.headers["ETag"],
                              steward="steward-dat", roles=LAND_STEWARD)  # fmt: skip
    body = problem(again, 403, "FORBIDDEN")
    assert body["reason"] == "scope"
    assert "enterprise, population" in body["detail"]
    assert (await client.call("GET", path)).json()["title"] == read.json()["title"]
    rest = await client.call("POST", f"{path}/approve", etag=land.headers["ETag"],
                             steward="steward-minh")  # fmt: skip
    assert rest.json()["status"] == "approved"
    assert rest.json()["approvals"] == {
        "enterprise": "steward-minh", "land": "steward-dat", "population": "steward-minh",
    }  # fmt: skip
    after = (await client.call("GET", path)).json()
    assert after["title"] == template["title"]
    assert after["approved_by"] == "steward-dat, steward-minh"


async def test_paper_consents_count_and_are_listed(client: Client, world: World) -> None:
    loan = "query($id: ID!) { resident(id: $id) { fullName } }"
    before = await client.graphql("nganhang-abc", "TD-VAY", loan, {"id": world.resident})
    assert before["data"]["resident"] is None
    paper = {
        "subject_id": world.resident, "agency": "nganhang-abc", "purpose": "TD-VAY",
        "fields": ["fullName"], "expires_at": "2030-01-01T00:00:00+07:00",
        "officer": "cb-0042", "document_reference": "PDY-2026/118",
    }  # fmt: skip
    recorded = await client.call("POST", "/consents/paper", json=paper)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["channel"] == "paper"
    assert recorded.json()["officer"] == "cb-0042"
    after = await client.graphql("nganhang-abc", "TD-VAY", loan, {"id": world.resident})
    assert after["data"]["resident"] == {"fullName": "Lê Thị Hoa"}

    by_subject = (await client.call("GET", f"/consents?subject_id={world.resident}")).json()
    assert [c["document_reference"] for c in by_subject["items"]] == ["PDY-2026/118"]
    by_agency = (await client.call("GET", "/consents?agency=nganhang-abc&limit=1")).json()
    assert by_agency["items"][0]["consent_id"] == recorded.json()["consent_id"]
    neither = await client.call("GET", "/consents")
    assert problem(neither, 422, "BAD_USER_INPUT")["argument"] == "subject_id"
    for change, argument in (
        ({"subject_id": "999085000123"}, "subject_id"),
        ({"agency": "nobody-here"}, "agency"),
        ({"fields": ["shoeSize"]}, "fields"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"officer": "a b"}, "body.officer"),
    ):
        refused = await client.call("POST", "/consents/paper", json={**paper, **change})
        assert problem(refused, 422, "BAD_USER_INPUT")["argument"] == argument


async def test_a_paper_consent_outside_what_agreements_allow_is_refused(
    client: Client, world: World
) -> None:
    """Paper consents go through the one consent rule (gateway/policy/consents.py): a 422
    problem naming the input, its detail ending with the rule's code, and nothing recorded."""
    paper = {
        "subject_id": world.resident, "agency": "nganhang-abc", "purpose": "TD-VAY",
        "fields": ["fullName"], "expires_at": "2030-01-01T00:00:00+07:00",
        "officer": "cb-0042", "document_reference": "PDY-2026/119",
    }  # fmt: skip
    listed = f"/consents?subject_id={world.resident}"
    before = (await client.call("GET", listed)).json()["items"]
    for change, argument, code in (
        # the one-stop centre needs no consent for CT01: a paper saying otherwise opens nothing
        ({"agency": "motcua-danang", "purpose": "CT01"}, "agency", "CONSENT_NO_AGREEMENT"),
        ({"fields": ["fullName", "religion"]}, "fields", "CONSENT_OUTSIDE_AGREEMENT"),
        ({"purpose": "KHONG-CO"}, "purpose", "CONSENT_UNKNOWN_PURPOSE"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "CONSENT_EXPIRED"),
    ):
        refused = await client.call("POST", "/consents/paper", json={**paper, **change})
        body = problem(refused, 422, "BAD_USER_INPUT")
        assert body["argument"] == argument
        assert body["detail"].startswith(f"{argument}: ")
        assert body["detail"].endswith(f"({code})"), body["detail"]
    assert (await client.call("GET", listed)).json()["items"] == before


async def test_audit_search_export_and_daily_counts(client: Client, world: World) -> None:
    for _ in range(2):  # two entries at least, whatever ran before: a page of one has a next
        await client.graphql("motcua-danang", "CT01", RESIDENT, {"id": world.resident})
    found = (await client.call("GET", "/audit?agency=motcua-danang&limit=1")).json()
    (entry,) = found["items"]
    assert entry["subject_id"] == world.resident
    assert entry["purpose"] == "CT01"
    assert found["next_cursor"] is not None
    more = await client.call("GET", f"/audit?agency=motcua-danang&cursor={found['next_cursor']}")
    assert more.status_code == 200
    problem(await client.call("GET", "/audit?cursor=xyz"), 422, "BAD_USER_INPUT")

    exported = await client.call("GET", f"/audit/export.csv?subject_id={world.resident}")
    assert exported.headers["content-type"].startswith("text/csv")
    header, *rows = exported.text.strip().splitlines()
    assert "subject_id" in header.split(",")
    assert rows and all(world.resident in row for row in rows)

    # days are Vietnam's (UTC+7): from 17:00 UTC on, the entry's Vietnam day is UTC's tomorrow
    occurred = datetime.fromisoformat(entry["occurred_at"].replace("Z", "+00:00"))
    today = occurred.astimezone(VIETNAM_TIME).date().isoformat()
    counts = (await client.call(
        "GET", f"/audit/daily-counts?since={today}&until={today}&agency=motcua-danang"
    )).json()  # fmt: skip
    assert counts[0]["agency"] == "motcua-danang"
    assert counts[0]["entries"] >= 2
    backwards = await client.call("GET", "/audit/daily-counts?since=2026-02-01&until=2026-01-01")
    assert problem(backwards, 422, "BAD_USER_INPUT")["argument"] == "until"
    far = await client.call("GET", "/audit/daily-counts?since=2000-01-01&until=2199-12-31")
    problem(far, 422, "BAD_USER_INPUT")


async def test_explain_says_why(client: Client, world: World) -> None:
    query = (f"/explain?agency=motcua-danang&purpose=CT01&type=Resident&subject={world.resident}"
             "&field=fullName&field=religion")  # fmt: skip
    answer = (await client.call("GET", query)).json()
    assert answer["agency_status"] == "active"
    given, refused = answer["fields"]
    assert (given["field"], given["outcome"]) == ("fullName", "allow")
    assert given["legal_basis"]
    assert given["considered"]
    assert (refused["field"], refused["outcome"]) == ("religion", "deny")
    assert refused["reason"] == "field outside the agreement"
    bad = await client.call("GET", query.replace(world.resident, "123"))
    assert problem(bad, 422, "BAD_USER_INPUT")["argument"] == "subject"
    unknown = await client.call("GET", query.replace("religion", "shoeSize"))
    assert problem(unknown, 422, "BAD_USER_INPUT")["argument"] == "fields"


async def test_stewards_reads_are_logged_once_each_under_the_subject_they_concern(
    client: Client, world: World
) -> None:
    await client.call("GET", f"/consents?subject_id={world.resident}", steward="steward-minh")
    await client.call(
        "GET",
        f"/explain?agency=nganhang-abc&purpose=TD-VAY&type=Resident&subject={world.resident}"
        "&field=fullName",
        steward="steward-minh",
    )
    exported = await client.call("GET", "/audit/export.csv", steward="steward-minh")
    streamed = len(exported.text.strip().splitlines()) - 1
    found = (await client.call(
        "GET", "/audit?outcome=oversight&agency=steward-console&limit=100"
    )).json()  # fmt: skip
    mine = [e for e in found["items"] if e["officer"] == "steward-minh"]
    assert [(e["operation"], e["subject_type"], e["subject_id"]) for e in mine] == [
        ("audit.export", "query", "*"),
        ("explain", "resident", world.resident),
        ("consents", "resident", world.resident),
    ]
    assert {e["purpose"] for e in mine} == {"oversight"}
    # the export of every entry is one entry, which says how many it streamed
    export_rows = await client.call(
        "GET", "/audit/export.csv?outcome=oversight&agency=steward-console"
    )
    assert export_rows.status_code == 200
    assert streamed >= 3
    # and the citizen sees that a steward read their consents and an explanation
    log = await client.http.post(
        "/graphql",
        json={"query": "{ myAccessLog(first: 20) { nodes { agency purpose } } }"},
        headers=client.citizen(world.resident),
    )
    nodes = log.json()["data"]["myAccessLog"]["nodes"]
    assert {"agency": "steward-console", "purpose": "oversight"} in nodes


async def test_lookups_of_absent_keys_show_in_the_audit_and_the_daily_counts(
    client: Client,
) -> None:
    absent = factories.new_personal_id()
    await client.graphql("motcua-danang", "CT01", RESIDENT, {"id": absent})
    found = (await client.call("GET", f"/audit?outcome=absent&subject_id={absent}")).json()
    (entry,) = found["items"]
    assert (entry["agency"], entry["outcome"], entry["fields_given"]) == (
        "motcua-danang", "absent", []
    )  # fmt: skip
    day = datetime.fromisoformat(entry["occurred_at"]).astimezone(VIETNAM_TIME).date()
    counts = (await client.call(
        "GET", f"/audit/daily-counts?since={day}&until={day}&agency=motcua-danang"
    )).json()  # fmt: skip
    assert counts[0]["absent"] >= 1
    bad = await client.call("GET", "/audit?outcome=leaked")
    assert problem(bad, 422, "BAD_USER_INPUT")["argument"] == "query.outcome"
