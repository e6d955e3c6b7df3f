"""Corrections at the source, end to end through HTTP on the whole app and real loads: a citizen
(or an officer with the citizen present) disputes a field, the next prefill and answer flag it
beside the value (only to a caller given the value), a steward of the registry forwards it, and
the next load that brings another value clears it; a rejection's reason reaches the citizen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from etl.pipeline import load
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import clients
from tests.functional.loads import person, resident, write
from tests.graphql_world import PLANS_METRIC, SAMPLE_POLICY

REPORT = """
mutation($field: String!, $explanation: String!, $subject: ID) {
  reportCorrection(field: $field, explanation: $explanation, subject: $subject) {
    id subject field explanation reportedBy status sourceAgency rejectionReason
    history { step }
  }
}"""
MINE = """{ myCorrections { id field status sourceAgency rejectionReason history { step } } }"""
FLAGGED = "query($id: ID!) { resident(id: $id) { fullName birthDate disputedFields } }"
OPEN_DOSSIER = """
mutation($number: String!, $subjects: [DossierSubjectInput!]!, $expiresAt: DateTime!) {
  openDossier(number: $number, purpose: "CT01", subjects: $subjects, expiresAt: $expiresAt) {
    number
  }
}"""
# An agency that sees residents' birth dates for CT01, and nothing else of them
BIRTH_ONLY = {
    "agency": "kiemtra-danang",
    "purpose": "CT01",
    "type": "Resident",
    "fields": ["birthDate"],
    "legal_basis": "Luật Cư trú 2020",
    "consent_required": False,
    "via": None,
    "masking": {},
    "status": "approved",
    "valid_from": "2025-07-01T00:00:00Z",
    "valid_to": None,
}
POPULATION = ("steward", "steward:population")


@dataclass
class World:
    citizen: str  # whose name is wrong
    other: str  # another resident
    rows: list[dict[str, str]]


@pytest.fixture(scope="module")
def settings_(committed_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=committed_database_url, home=tmp_path_factory.mktemp("corrections-home")
    )


@pytest.fixture(scope="module")
async def world(settings_: Settings, tmp_path_factory: pytest.TempPathFactory) -> World:
    engine = create_engine(settings_, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(
                session=session,
                document={
                    "agencies": [
                        *SAMPLE_POLICY["agencies"],
                        {"client_id": "kiemtra-danang", "name": "Kiểm tra", "kind": "one-stop"},
                    ],
                    "purposes": SAMPLE_POLICY["purposes"],
                    "agreements": [*SAMPLE_POLICY["agreements"], BIRTH_ONLY],
                },
                actor="tests",
            )
    finally:
        await engine.dispose()
    born = date(1990, 4, 5)
    citizen, other = person(born), person(date(1991, 6, 7))
    rows = [
        resident(citizen, born, full_name="Nguyễn Văn Anh"),  # the source's typo
        resident(other, date(1991, 6, 7), full_name="Lê Văn Bảo"),
    ]
    folder = tmp_path_factory.mktemp("corrections-loads")
    load(settings=settings_, target="residents", path=write(folder / "first.csv", rows))
    return World(citizen, other, rows)


@pytest.fixture(scope="module")
async def http(settings_: Settings, world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with clients.app_client(settings_) as client:
        yield client


@pytest.fixture(scope="module")
def issuer(settings_: Settings) -> DevIssuer:
    return DevIssuer(settings_)


async def _graphql(
    http: httpx.AsyncClient, headers: dict[str, str], query: str, **variables: Any
) -> dict[str, Any]:
    answer = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _agency(issuer: DevIssuer, agency: str = "motcua-danang") -> dict[str, str]:
    return {**clients.agency(issuer, agency), "X-Purpose": "CT01", "X-Officer": "cb-0042"}


async def _prefill(http: httpx.AsyncClient, issuer: DevIssuer, subject: str) -> dict[str, Any]:
    """PrefillCT01 as the one-stop software runs it (a compiled plan answers it)."""
    body = {"operationName": "PrefillCT01", "variables": {"subject": subject}}
    answer = await http.post("/graphql", json=body, headers=_agency(issuer))
    assert answer.status_code == 200, answer.text
    return {f["key"]: f for f in answer.json()["data"]["prefill"]["fields"]}


async def _generic_prefill(
    http: httpx.AsyncClient, issuer: DevIssuer, subject: str
) -> dict[str, Any]:
    """The same form through the generic executor (an ad hoc document, not the trusted one)."""
    query = """query($s: ID!) { prefill(form: "CT01", subject: $s) {
        fields { key value disputed missing } } }"""
    body = await _graphql(http, _agency(issuer), query, s=subject)
    return {f["key"]: f for f in body["data"]["prefill"]["fields"]}


def _load(settings: Settings, world: World, tmp: Path, **changes: str) -> None:
    rows = [
        {**row, **changes} if row["personal_id"] == world.citizen else row for row in world.rows
    ]
    load(
        settings=settings,
        target="residents",
        path=write(tmp / "again.csv", rows),
        accept_changes=True,
    )
    world.rows = rows


async def _answered_by_plan(http: httpx.AsyncClient) -> int:
    metrics = (await http.get("/metrics")).text
    return sum(int(n) for by, n in PLANS_METRIC.findall(metrics) if by == "plan")


def _steps(settings: Settings, request_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(settings.libpq_url) as connection:
        rows = connection.execute(
            "SELECT step, actor FROM correction_events WHERE request_id = %s ORDER BY event_id",
            (int(request_id),),
        ).fetchall()
    return [(str(step), str(actor)) for step, actor in rows]


async def test_disputed_flagged_forwarded_and_cleared_by_the_corrected_load(
    http: httpx.AsyncClient,
    issuer: DevIssuer,
    settings_: Settings,
    world: World,
    tmp_path: Path,
) -> None:
    citizen = clients.citizen(issuer, world.citizen)
    before = await _prefill(http, issuer, world.citizen)
    assert before["ho_ten"]["value"] == "Nguyễn Văn Anh"
    assert before["ho_ten"]["disputed"] is False
    plans_before = await _answered_by_plan(http)

    reported = await _graphql(
        http,
        citizen,
        REPORT,
        field="fullName",
        explanation="Tên tôi là Nguyễn Văn Ánh, xem giấy khai sinh",
    )
    correction = reported["data"]["reportCorrection"]
    assert correction["status"] == "reported" and correction["reportedBy"] == "citizen"
    assert correction["subject"] == world.citizen
    assert [s["step"] for s in correction["history"]] == ["reported"]

    # the next prefill flags the value, through the compiled plan and the generic executor
    for fields in (
        await _prefill(http, issuer, world.citizen),
        await _generic_prefill(http, issuer, world.citizen),
    ):
        assert fields["ho_ten"]["disputed"] is True
        assert fields["ho_ten"]["value"] == "Nguyễn Văn Anh"
        assert not fields["dan_toc"]["disputed"]  # the other values are not
    assert await _answered_by_plan(http) == plans_before + 1
    answer = await _graphql(http, _agency(issuer), FLAGGED, id=world.citizen)
    assert answer["data"]["resident"]["disputedFields"] == ["fullName"]
    other = await _graphql(http, _agency(issuer), FLAGGED, id=world.other)
    assert other["data"]["resident"]["disputedFields"] == []

    # a steward of another registry cannot forward it, nor one holding no registry
    path = f"/admin/corrections/{correction['id']}/forward"
    forward = {"source_agency": "congan-danang", "note": "Đề nghị đối chiếu giấy khai sinh"}
    for roles in (("steward", "steward:land"), ("steward",), ("steward", "steward:population:48")):
        refused = await http.post(
            path, json=forward, headers=clients.steward(issuer, "steward-dat", roles)
        )
        assert clients.problem(refused, 403, "FORBIDDEN")["reason"] == "scope"
    forwarded = await http.post(
        path, json=forward, headers=clients.steward(issuer, "steward-hoa", POPULATION)
    )
    assert forwarded.status_code == 200, forwarded.text
    assert forwarded.json()["status"] == "forwarded"
    assert forwarded.json()["source_agency"] == "congan-danang"
    again = await http.post(
        path, json=forward, headers=clients.steward(issuer, "steward-hoa", POPULATION)
    )
    clients.problem(again, 409, "CONFLICT")
    still = await _prefill(http, issuer, world.citizen)
    assert still["ho_ten"]["disputed"] is True  # forwarded, not yet corrected

    # a load that changes something else of the citizen leaves the dispute open
    _load(settings_, world, tmp_path, permanent_address_line="14 Trần Phú")
    assert (await _prefill(http, issuer, world.citizen))["ho_ten"]["disputed"] is True

    # the source's corrected load clears it
    _load(settings_, world, tmp_path, full_name="Nguyễn Văn Ánh")
    after = await _prefill(http, issuer, world.citizen)
    assert after["ho_ten"]["value"] == "Nguyễn Văn Ánh"
    assert after["ho_ten"]["disputed"] is False
    mine = (await _graphql(http, citizen, MINE))["data"]["myCorrections"]
    (named,) = [m for m in mine if m["id"] == correction["id"]]
    assert named["status"] == "corrected"
    assert [s["step"] for s in named["history"]] == ["reported", "forwarded", "corrected"]
    steps = _steps(settings_, correction["id"])
    assert steps[0] == ("reported", f"citizen-{world.citizen}")
    assert steps[1] == ("forwarded", "steward-hoa")
    assert steps[2][0] == "corrected" and steps[2][1].startswith("etl:")
    one = await http.get(f"/admin/corrections/{correction['id']}", headers=clients.steward(issuer))
    assert one.json()["corrected_version_id"] is not None
    assert one.json()["disputed_value"] == {"full_name": "Nguyễn Văn Anh"}


async def test_a_rejected_dispute_shows_its_reason_to_the_citizen(
    http: httpx.AsyncClient, issuer: DevIssuer, world: World
) -> None:
    citizen = clients.citizen(issuer, world.other)
    reported = await _graphql(
        http, citizen, REPORT, field="birthDate", explanation="Tôi sinh ngày 8/6/1991"
    )
    request_id = reported["data"]["reportCorrection"]["id"]
    assert (await _prefill(http, issuer, world.other))["ngay_sinh"]["disputed"] is True
    path = f"/admin/corrections/{request_id}/reject"
    empty = await http.post(path, json={"reason": ""}, headers=clients.steward(issuer))
    clients.problem(empty, 422, "BAD_USER_INPUT")
    reason = "Giấy khai sinh gốc ghi ngày 7/6/1991, trùng với sổ hộ tịch"
    rejected = await http.post(path, json={"reason": reason}, headers=clients.steward(issuer))
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    mine = (await _graphql(http, citizen, MINE))["data"]["myCorrections"]
    (named,) = [m for m in mine if m["id"] == request_id]
    assert named["status"] == "rejected" and named["rejectionReason"] == reason
    assert not (await _prefill(http, issuer, world.other))["ngay_sinh"]["disputed"]
    settled = await http.post(
        f"/admin/corrections/{request_id}/forward",
        json={"source_agency": "congan-danang", "note": "x"},
        headers=clients.steward(issuer),
    )
    clients.problem(settled, 409, "CONFLICT")
    listed = await http.get(
        "/admin/corrections",
        params={"status": "rejected", "subject_id": world.other},
        headers=clients.steward(issuer),
    )
    assert [i["request_id"] for i in listed.json()["items"]] == [int(request_id)]


async def test_the_flag_is_governed_like_the_value(
    http: httpx.AsyncClient, issuer: DevIssuer, world: World
) -> None:
    """A caller refused a field learns nothing of its dispute; one given it sees the flag."""
    citizen = clients.citizen(issuer, world.citizen)
    reported = await _graphql(http, citizen, REPORT, field="birthDate", explanation="Sai ngày")
    assert "errors" not in reported, reported
    birth_only = _agency(issuer, "kiemtra-danang")
    answer = await _graphql(http, birth_only, FLAGGED, id=world.citizen)
    assert answer["data"]["resident"]["fullName"] is None  # refused
    assert answer["data"]["resident"]["disputedFields"] == ["birthDate"]
    # the name's dispute is settled by now; dispute the sex: the agency may not see it
    await _graphql(http, citizen, REPORT, field="sex", explanation="Sai giới tính")
    answer = await _graphql(http, birth_only, FLAGGED, id=world.citizen)
    assert answer["data"]["resident"]["disputedFields"] == ["birthDate"]
    # a field given is flagged only when asked beside it
    alone = await _graphql(
        http,
        birth_only,
        "query($id: ID!) { resident(id: $id) { disputedFields } }",
        id=world.citizen,
    )
    assert alone["data"]["resident"]["disputedFields"] == []
    full = await _graphql(
        http,
        _agency(issuer),
        "query($id: ID!) { resident(id: $id) { sex birthDate disputedFields } }",
        id=world.citizen,
    )
    assert full["data"]["resident"]["disputedFields"] == ["birthDate", "sex"]


async def test_bad_reports_are_refused_in_the_error_shape(
    http: httpx.AsyncClient, issuer: DevIssuer, world: World
) -> None:
    citizen = clients.citizen(issuer, world.other)
    cases = [
        ({"field": "favouriteColour", "explanation": "x"}, "field", "CORRECTION_FIELD_UNKNOWN"),
        ({"field": "household", "explanation": "x"}, "field", "CORRECTION_FIELD_NOT_HELD"),
        ({"field": "id", "explanation": "x"}, "field", "CORRECTION_FIELD_NOT_HELD"),
        (
            {"field": "religion", "explanation": "   "},
            "explanation",
            "CORRECTION_EXPLANATION_EMPTY",
        ),
        (
            {"field": "religion", "explanation": "x" * 2001},
            "explanation",
            "CORRECTION_EXPLANATION_TOO_LONG",
        ),
        (
            {"field": "religion", "explanation": "x", "subject": "12345"},
            "subject",
            "PERSONAL_ID_FORMAT",
        ),
    ]
    for variables, argument, code in cases:
        body = await _graphql(http, citizen, REPORT, **variables)
        assert body["data"] is None, variables
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["argument"] == argument
        assert error["message"].endswith(f"({code})"), error["message"]
    another = await _graphql(
        http, citizen, REPORT, field="religion", explanation="x", subject=world.citizen
    )
    assert another["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    first = await _graphql(http, citizen, REPORT, field="hometown", explanation="Quê Huế")
    assert "errors" not in first
    twice = await _graphql(http, citizen, REPORT, field="hometown", explanation="Quê Huế")
    assert twice["errors"][0]["message"].endswith("(CORRECTION_ALREADY_OPEN)")
    steward = await _graphql(http, clients.steward(issuer), MINE)
    assert steward["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # nothing of the refused reports was recorded
    mine = (await _graphql(http, citizen, MINE))["data"]["myCorrections"]
    assert "religion" not in {m["field"] for m in mine}


async def test_an_officer_reports_with_the_citizen_present(
    http: httpx.AsyncClient, issuer: DevIssuer, world: World
) -> None:
    """Presence is a dossier of the officer's agency naming the citizen, and the officer a
    verified one (a token naming them): anything less is refused."""
    officer = {
        "Authorization": "Bearer "
        + issuer.mint_officer(
            agency="motcua-danang",
            officer="cb-0042",
            name="Nguyễn Thị Lan",
            unit="Bộ phận Một cửa phường Hải Châu",
        ),
        "X-Purpose": "CT01",
    }
    number = f"000.00.15.H17-{datetime.now(UTC):%y%m%d}-{datetime.now(UTC):%H%M%S}"
    opened = await _graphql(
        http,
        officer,
        OPEN_DOSSIER,
        number=number,
        subjects=[{"type": "Resident", "id": world.other, "role": "applicant"}],
        expiresAt=(datetime.now(UTC) + timedelta(days=2)).isoformat(),
    )
    assert "errors" not in opened, opened
    at_counter = {**officer, "X-Dossier": number}
    body = await _graphql(
        http,
        at_counter,
        REPORT,
        field="placeOfBirth",
        explanation="Nơi sinh là Huế",
        subject=world.other,
    )
    assert body["data"]["reportCorrection"]["reportedBy"] == "officer", body
    not_named = await _graphql(
        http, at_counter, REPORT, field="placeOfBirth", explanation="x", subject=world.citizen
    )
    assert not_named["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    no_dossier = await _graphql(
        http, officer, REPORT, field="maritalStatus", explanation="x", subject=world.other
    )
    assert no_dossier["errors"][0]["extensions"]["code"] == "DOSSIER_REQUIRED"
    unverified = {**_agency(issuer), "X-Dossier": number}  # X-Officer: a header, unverified
    header = await _graphql(
        http, unverified, REPORT, field="maritalStatus", explanation="x", subject=world.other
    )
    assert header["errors"][0]["extensions"]["code"] == "OFFICER_REQUIRED"
    mine = (await _graphql(http, clients.citizen(issuer, world.other), MINE))["data"]
    assert "placeOfBirth" in {m["field"] for m in mine["myCorrections"]}
