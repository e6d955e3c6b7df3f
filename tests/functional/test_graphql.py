"""`/graphql` end to end through HTTP (httpx against the ASGI app, lifespan included): the
contract's error codes, field-level allow/mask/deny, consent grant → allow → revoke → deny, the
access-log row of every disclosure, prefill of each sample form, and the SQL cost of a batch.

Every test runs twice: with the compiled plans of trusted documents (the prefill's fast path) and
with the generic executor alone (LIENTHONG_GRAPHQL_PLANS=false)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest
from sqlalchemy import event

from gateway.graph.guard import SUBJECT_REASON
from gateway.graph.schema import build_schema
from gateway.policy.opa import OpaEngine
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories
from tests.graphql_world import (
    PARCEL_LAT,
    PARCEL_LON,
    ROOT,
    Api,
    World,
    build_world,
    running,
)
from tests.net import free_port


@pytest.fixture(scope="module")
def database_settings(committed_database_url: str, home: Path) -> Settings:
    return Settings(database_url=committed_database_url, home=home)


@pytest.fixture(scope="module", params=[True, False], ids=["plans", "generic"])
def gateway_settings(database_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The gateway with the compiled plans of trusted documents, and with the generic executor
    alone: every test here holds for both."""
    return database_settings.model_copy(update={"graphql_plans": request.param})


@pytest.fixture(scope="module")
async def world(database_settings: Settings) -> AsyncIterator[World]:
    """Committed registry rows and the sample agreements, in this module's own database."""
    engine = create_engine(database_settings, pool_size=2)
    try:
        yield await build_world(engine)
    finally:
        await engine.dispose()


def _settings(settings: Settings, home: Path, **changes: Any) -> Settings:
    return settings.model_copy(update={"home": home, **changes})


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-home")


@pytest.fixture(scope="module")
async def api(gateway_settings: Settings, world: World) -> AsyncIterator[Api]:
    async for client in running(gateway_settings):
        yield client


def _codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]


def _access_log(settings: Settings, request_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.libpq_url) as connection:
        return connection.execute(
            "SELECT agency, purpose, subject_type, subject_id, fields_given, fields_masked, "
            "fields_denied, officer, decision->>'correlation_id' FROM access_log "
            "WHERE request_id = %s ORDER BY subject_id",
            (request_id,),
        ).fetchall()


RESIDENT = """query($id: ID!) { resident(id: $id) { id fullName birthDate religion
  permanentAddress { communeName provinceName fullAddress } } }"""


async def test_agreement_fields_are_given_and_the_rest_forbidden(api: Api, world: World) -> None:
    answer = await api.data(RESIDENT, {"id": world.spouse})
    resident = answer["data"]["resident"]
    assert resident["fullName"] == "Lê Thị Hoa"
    assert resident["birthDate"] == "1988-07-09"
    assert resident["permanentAddress"]["provinceName"] == "Thành phố Đà Nẵng"
    assert resident["religion"] is None
    (error,) = answer["errors"]
    assert error["path"] == ["resident", "religion"]
    assert error["extensions"] == {
        "code": "FORBIDDEN",
        "field": "Resident.religion",
        "reason": "field outside the agreement",
    }


async def test_a_masked_field_comes_masked(api: Api, world: World) -> None:
    answer = await api.data(
        "query($id: ID!) { resident(id: $id) { fullName birthDate } }",
        {"id": world.spouse},
        agency="bhxh-danang",
        purpose="BHXH-TT",
    )
    assert answer["data"]["resident"] == {"fullName": "Lê Thị Hoa", "birthDate": "1988"}
    assert "errors" not in answer


async def test_another_purpose_or_agency_sees_nothing(api: Api, world: World) -> None:
    for agency, purpose in (("thue-hcm", "CT01"), ("motcua-danang", "DKKD"), ("unknown", "CT01")):
        answer = await api.data(RESIDENT, {"id": world.head}, agency=agency, purpose=purpose)
        assert answer["data"]["resident"] is None
        assert _codes(answer) == ["FORBIDDEN"]
        assert answer["errors"][0]["extensions"]["field"] == "resident"


async def test_absent_records_are_null_without_error(api: Api) -> None:
    answer = await api.data(RESIDENT, {"id": factories.new_personal_id()})
    assert answer == {"data": {"resident": None}}


async def test_nested_subjects_get_their_own_decision(api: Api, world: World) -> None:
    query = """query($code: ID!) { enterprise(code: $code) { name
      legalRepresentatives { title resident { fullName birthDate } }
      businessLines { code main } } }"""
    answer = await api.data(query, {"code": world.enterprise}, agency="thue-hcm", purpose="DKKD")
    enterprise = answer["data"]["enterprise"]
    assert enterprise["businessLines"] == [{"code": "47110", "main": True}]
    (representative,) = enterprise["legalRepresentatives"]
    assert representative["resident"] == {"fullName": "Trần Văn Bình", "birthDate": None}
    (error,) = answer["errors"]
    assert error["path"] == ["enterprise", "legalRepresentatives", 0, "resident", "birthDate"]
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_parcels_with_their_rights_holders(api: Api, world: World) -> None:
    query = """query($lon: Float!, $lat: Float!) { parcelsAt(lon: $lon, lat: $lat) { id area
      geometry landUse { code }
      rights { kind holder { __typename ... on Resident { fullName } } } } }"""
    answer = await api.data(
        query,
        {"lon": PARCEL_LON + 0.00005, "lat": PARCEL_LAT + 0.00005},
        agency="tainguyen-danang",
        purpose="CPXD",
    )
    (parcel,) = answer["data"]["parcelsAt"]
    assert parcel["id"] == world.parcel
    assert parcel["area"] == 413.5
    assert parcel["geometry"]["type"] == "MultiPolygon"
    assert parcel["rights"][0]["holder"] == {"__typename": "Resident", "fullName": "Trần Văn Bình"}
    assert "errors" not in answer


async def test_household_with_members(api: Api, world: World) -> None:
    query = """query($id: ID!) { household(id: $id) { headId head { fullName }
      members { relationshipToHead resident { id fullName } } } }"""
    answer = await api.data(query, {"id": world.household})
    household = answer["data"]["household"]
    assert household["headId"] == world.head
    assert [m["resident"]["id"] for m in household["members"]] == [world.head, world.spouse]
    assert "errors" not in answer


async def test_every_disclosure_is_in_the_access_log(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    request_id = f"t-{uuid.uuid4().hex}"
    query = """query($id: ID!) { resident(id: $id) { fullName religion
      household { headId } } }"""
    answer = await api.post(
        query, {"id": world.spouse}, headers={"X-Request-Id": request_id, "X-Officer": "cb-0042"}
    )
    # the request id is the server's; the client's is the correlation id beside it
    assert answer.headers["X-Correlation-Id"] == request_id
    assert answer.headers["X-Request-Id"] != request_id
    rows = _access_log(gateway_settings, answer.headers["X-Request-Id"])
    assert rows and all(r[8] == request_id for r in rows)
    assert sorted((r[2], r[3]) for r in rows) == sorted(
        [("resident", world.spouse), ("household", world.household)]
    )
    resident_row = next(r for r in rows if r[2] == "resident")
    assert resident_row[:2] == ("motcua-danang", "CT01")
    assert resident_row[4] == ["fullName", "household"]
    assert resident_row[6] == ["religion"]
    assert resident_row[7] == "cb-0042"


async def test_every_prefill_disclosure_is_in_the_access_log(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    request_id = f"t-{uuid.uuid4().hex}"
    answer = await api.prefill_ct01(
        world.spouse, headers={"X-Request-Id": request_id, "X-Officer": "cb-0042"}
    )
    assert answer.status_code == 200
    rows = _access_log(gateway_settings, answer.headers["X-Request-Id"])
    assert sorted((r[2], r[3]) for r in rows) == sorted(
        [("resident", world.spouse), ("household", world.household), ("resident", world.head)]
    )
    spouse = next(r for r in rows if r[3] == world.spouse)
    assert spouse[:2] == ("motcua-danang", "CT01")
    assert "fullName" in spouse[4]
    assert "household" in spouse[4]
    assert spouse[7] == "cb-0042"
    head = next(r for r in rows if r[3] == world.head)
    assert head[4] == ["fullName", "recordVersion"]  # the name and its provenance
    household = next(r for r in rows if r[2] == "household")
    assert household[4] == ["head", "headId", "recordVersion"]


async def test_consent_grant_allows_and_revoke_denies_the_next_request(
    api: Api, world: World
) -> None:
    loan = "query($id: ID!) { resident(id: $id) { fullName birthDate permanentAddress { line } } }"
    before = await api.data(loan, {"id": world.spouse}, agency="nganhang-abc", purpose="TD-VAY")
    assert before["data"]["resident"] is None
    # refused whole, as an absent resident would be: the reason names no subject and no consent
    assert before["errors"][0]["extensions"]["reason"] == SUBJECT_REASON

    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    granted = await api.data(
        """mutation($exp: DateTime!) { grantConsent(agency: "nganhang-abc", purpose: "TD-VAY",
           fields: ["fullName", "birthDate"], expiresAt: $exp) { id fields revokedAt } }""",
        {"exp": expires},
        agency="lienthong-citizen",
        purpose=None,
        citizen_id=world.spouse,
    )
    consent = granted["data"]["grantConsent"]
    assert consent["fields"] == ["fullName", "birthDate"]

    during = await api.data(loan, {"id": world.spouse}, agency="nganhang-abc", purpose="TD-VAY")
    assert during["data"]["resident"]["fullName"] == "Lê Thị Hoa"
    assert during["data"]["resident"]["permanentAddress"] is None
    assert [e["extensions"]["field"] for e in during["errors"]] == ["Resident.permanentAddress"]

    mine = await api.data(
        """{ myConsents { id revokedAt }
             myAccessLog(first: 5) { nodes { agency purpose fieldsGiven } } }""",
        agency="lienthong-citizen",
        purpose=None,
        citizen_id=world.spouse,
    )
    assert {"id": consent["id"], "revokedAt": None} in mine["data"]["myConsents"]
    newest = mine["data"]["myAccessLog"]["nodes"][0]
    assert newest == {
        "agency": "nganhang-abc",
        "purpose": "TD-VAY",
        "fieldsGiven": ["birthDate", "fullName"],
    }

    revoked = await api.data(
        "mutation($id: ID!) { revokeConsent(id: $id) { revokedAt } }",
        {"id": consent["id"]},
        agency="lienthong-citizen",
        purpose=None,
        citizen_id=world.spouse,
    )
    assert revoked["data"]["revokeConsent"]["revokedAt"] is not None
    after = await api.data(loan, {"id": world.spouse}, agency="nganhang-abc", purpose="TD-VAY")
    assert after["data"]["resident"] is None
    assert _codes(after) == ["FORBIDDEN"]


async def test_grant_consent_outside_what_agreements_allow_is_refused(
    api: Api, world: World
) -> None:
    """grantConsent applies the one consent rule (gateway/policy/consents.py): a refusal is
    BAD_USER_INPUT naming the argument, its message ending with the rule's code."""
    grant = """mutation($a: ID!, $p: String!, $f: [String!]!, $e: DateTime!) {
      grantConsent(agency: $a, purpose: $p, fields: $f, expiresAt: $e) { id } }"""
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    cases = [
        # the one-stop centre's agreement gives data without consent: nothing to consent to
        ({"a": "motcua-danang", "p": "CT01", "f": ["fullName"], "e": later},
         "agency", "CONSENT_NO_AGREEMENT"),
        ({"a": "nganhang-abc", "p": "TD-VAY", "f": ["fullName", "religion"], "e": later},
         "fields", "CONSENT_OUTSIDE_AGREEMENT"),
        ({"a": "nganhang-abc", "p": "KHONG-CO", "f": ["fullName"], "e": later},
         "purpose", "CONSENT_UNKNOWN_PURPOSE"),
        ({"a": "nganhang-abc", "p": "TD-VAY", "f": [], "e": later},
         "fields", "CONSENT_NO_FIELDS"),
        ({"a": "nganhang-abc", "p": "TD-VAY", "f": ["fullName"],
          "e": "2020-01-01T00:00:00+07:00"}, "expiresAt", "CONSENT_EXPIRED"),
    ]  # fmt: skip
    citizen = {"agency": "lienthong-citizen", "purpose": None, "citizen_id": world.head}
    mine = "{ myConsents { id } }"
    before = (await api.data(mine, **citizen))["data"]["myConsents"]
    for variables, argument, code in cases:
        answer = await api.data(grant, variables, **citizen)
        assert answer["data"] is None, variables
        (error,) = answer["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
        assert error["message"].startswith(f"{argument}: ")
        assert error["message"].endswith(f"({code})"), error["message"]
    assert (await api.data(mine, **citizen))["data"]["myConsents"] == before  # none recorded


async def test_citizen_fields_refuse_agency_tokens(api: Api) -> None:
    answer = await api.data("{ myConsents { id } }", purpose=None)
    assert answer["data"] is None
    assert _codes(answer) == ["FORBIDDEN"]


PREFILL = """query($form: String!, $subject: ID!) { prefill(form: $form, subject: $subject) {
  form fields { key value missing provenance { registry recordVersion { validFrom } } } } }"""


def _prefilled(answer: dict[str, Any]) -> dict[str, Any]:
    return {f["key"]: f for f in answer["data"]["prefill"]["fields"]}


async def test_prefill_ct01(api: Api, world: World) -> None:
    fields = _prefilled(await api.data(PREFILL, {"form": "CT01", "subject": world.spouse}))
    assert fields["ho_ten"]["value"] == "Lê Thị Hoa"
    assert fields["ho_ten"]["provenance"]["registry"] == "residents"
    assert fields["ho_ten_chu_ho"]["value"] == "Trần Văn Bình"
    assert fields["so_dinh_danh_chu_ho"]["value"] == world.head
    assert fields["so_dinh_danh_chu_ho"]["provenance"]["registry"] == "households"
    assert fields["quan_he_voi_chu_ho"]["value"] == "wife"
    trusted = await api.prefill_ct01(world.spouse)
    assert trusted.status_code == 200
    assert "errors" not in trusted.json()
    by_key = _prefilled(trusted.json())
    assert {k: f["value"] for k, f in by_key.items()} == {k: f["value"] for k, f in fields.items()}
    assert by_key["so_dinh_danh_chu_ho"]["provenance"]["registry"] == "households"
    assert by_key["ho_ten_chu_ho"]["provenance"]["recordVersion"]["validFrom"]


async def test_prefill_hkd01(api: Api, world: World) -> None:
    """DKHKD is case-bound: the one-stop software registers the dossier first."""
    number = f"000.00.15.H17-261205-{1 if api.settings.graphql_plans else 2:04d}"
    opened = await api.data(
        "mutation($n: String!, $s: [DossierSubjectInput!]!, $e: DateTime!) { openDossier("
        'number: $n, purpose: "DKHKD", subjects: $s, expiresAt: $e) { number } }',
        {"n": number, "s": [{"type": "Resident", "id": world.head}],
         "e": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        purpose=None, headers={"X-Officer": "cb-0042"},
    )  # fmt: skip
    assert opened == {"data": {"openDossier": {"number": number}}}
    answer = await api.data(
        PREFILL, {"form": "HKD01", "subject": world.head}, purpose="DKHKD",
        headers={"X-Dossier": number},
    )  # fmt: skip
    fields = _prefilled(answer)
    assert fields["ho_ten_chu_ho_kinh_doanh"]["value"] == "Trần Văn Bình"
    assert all(f["value"] or f["missing"] for f in fields.values())


async def test_prefill_xd01(api: Api, world: World) -> None:
    answer = await api.data(
        PREFILL, {"form": "XD01", "subject": world.parcel}, agency="tainguyen-danang",
        purpose="CPXD",
    )  # fmt: skip
    fields = _prefilled(answer)
    assert fields["dien_tich"]["value"] == "413.5"
    assert fields["dien_tich"]["provenance"]["registry"] == "parcels"
    assert fields["nguoi_su_dung_dat"]["value"] == "Trần Văn Bình"


async def test_prefill_names_what_it_could_not_fill(api: Api, world: World) -> None:
    subject = {"form": "CT01", "subject": world.spouse}
    answer = await api.data(PREFILL, subject, agency="bhxh-danang", purpose="CT01")
    assert answer["data"]["prefill"] is None
    assert _codes(answer) == ["FORBIDDEN"]
    wrong = await api.data(PREFILL, {"form": "CT01", "subject": world.spouse}, purpose="DKKD")
    assert _codes(wrong) == ["BAD_USER_INPUT"]
    assert wrong["errors"][0]["extensions"]["argument"] == "form"
    refused = (await api.prefill_ct01(world.spouse, agency="bhxh-danang")).json()
    assert refused["data"]["prefill"] is None
    assert _codes(refused) == ["FORBIDDEN"]
    other_purpose = (await api.prefill_ct01(world.spouse, purpose="DKKD")).json()
    assert _codes(other_purpose) == ["BAD_USER_INPUT"]
    malformed = (await api.prefill_ct01("04808500012x")).json()
    assert _codes(malformed) == ["BAD_USER_INPUT"]
    absent = await api.prefill_ct01(factories.new_personal_id())
    assert absent.json() == {"data": {"prefill": None}}


async def test_unauthenticated(api: Api, world: World) -> None:
    expired = api.issuer.mint(agency="motcua-danang", now=1_700_000_000, ttl_seconds=60)
    prefill = {"operationName": "PrefillCT01", "variables": {"subject": world.spouse}}
    for headers, body in itertools.product(
        ({}, {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Basic x"},
         {"Authorization": f"Bearer {expired}"}),
        ({"query": '{ adminUnit(code: "48") { name } }'}, prefill),
    ):  # fmt: skip
        answer = await api.client.post(
            "/graphql", json=body, headers={**headers, "X-Purpose": "CT01"}
        )
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert _codes(answer.json()) == ["UNAUTHENTICATED"]
        assert answer.json()["data"] is None


async def test_purpose_required_for_registry_data_only(api: Api, world: World) -> None:
    answer = await api.data(RESIDENT, {"id": world.head}, purpose=None)
    assert _codes(answer) == ["PURPOSE_REQUIRED"]
    prefill = (await api.prefill_ct01(world.spouse, purpose=None)).json()
    assert _codes(prefill) == ["PURPOSE_REQUIRED"]
    public = await api.data('{ adminUnit(code: "48") { name level } }', purpose=None)
    assert public == {"data": {"adminUnit": {"name": "Thành phố Đà Nẵng", "level": "province"}}}


@pytest.mark.parametrize(
    ("query", "variables", "argument"),
    [
        (RESIDENT, {"id": "04808500012"}, "id"),
        (RESIDENT, {"id": "04808500012x"}, "id"),
        ("query($c: ID!) { enterprise(code: $c) { name } }", {"c": "0100000001"}, "code"),
        ("query($i: [ID!]!) { residents(ids: $i) { id } }", {"i": ["048085000123"] * 101}, "ids"),
        ('{ parcel(id: "abc") { id } }', {}, "id"),
        ('{ household(id: "12") { id } }', {}, "id"),
        ("{ parcelsAt(lon: 200, lat: 16) { id } }", {}, "lon"),
        ('{ adminUnit(code: "x1") { name } }', {}, "code"),
        ('query($s: ID!) { prefill(form: "NOPE", subject: $s) { form } }', {"s": "1"}, "form"),
    ],
)
async def test_bad_user_input(
    api: Api, query: str, variables: dict[str, Any], argument: str
) -> None:
    answer = await api.data(query, variables)
    assert _codes(answer) == ["BAD_USER_INPUT"]
    assert answer["errors"][0]["extensions"]["argument"] == argument
    assert answer["errors"][0]["message"].startswith(argument)


async def test_query_too_complex(api: Api, world: World) -> None:
    deep = "household { head { " * 6 + "id" + " } }" * 6
    answer = await api.data(f'{{ resident(id: "{world.head}") {{ {deep} }} }}')
    assert _codes(answer) == ["QUERY_TOO_COMPLEX"]
    assert "levels deep" in answer["errors"][0]["message"]
    # over the token limit (2,000) yet under the query's byte limit (16 KiB)
    many = " ".join(f"a{n}:id" for n in range(1100))
    tokens = await api.data(f'{{ resident(id: "{world.head}") {{ {many} }} }}')
    assert _codes(tokens) == ["QUERY_TOO_COMPLEX"]
    assert "tokens" in tokens["errors"][0]["message"]


async def test_query_cost_counts_lists_by_their_size(api: Api, world: World) -> None:
    nested = "household { members { resident { household { members { resident { id } } } } } }"
    query = f"query($ids: [ID!]!) {{ residents(ids: $ids) {{ {nested} }} }}"
    expensive = await api.data(query, {"ids": world.batch})
    assert _codes(expensive) == ["QUERY_TOO_COMPLEX"]
    assert "would resolve about 23201 fields" in expensive["errors"][0]["message"]
    cheap = await api.data(query, {"ids": world.batch[:10]})
    assert "errors" not in cheap


async def test_sql_statements_for_100_residents_are_bounded(api: Api, world: World) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    query = """query($ids: [ID!]!) { residents(ids: $ids) { id fullName
      permanentAddress { communeName provinceName }
      household { id headId address { fullAddress } members { resident { fullName } } } } }"""
    sync_engine = api.app.state.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        answer = await api.data(query, {"ids": world.batch})
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert "errors" not in answer
    residents = answer["data"]["residents"]
    assert len(residents) == 100
    assert all(r["household"]["members"][0]["resident"]["fullName"] for r in residents)
    # residents, households, members; per subject type the policy version, and on a cold cache
    # the agency's status and agreements (consents are not read: no agreement in scope needs them)
    assert len(statements) <= 8, statements


async def test_schema_file_matches_the_code() -> None:
    committed = (ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert committed == build_schema().as_str() + "\n", (
        "graphql/schema.graphql drifted: run "
        "`python -m gateway.graph.schema > graphql/schema.graphql`"
    )


async def test_a_browser_on_graphql_is_sent_to_graphiql_in_dev(api: Api) -> None:
    answer = await api.client.get("/graphql", headers={"Accept": "text/html,*/*;q=0.8"})
    assert answer.status_code == 307
    assert answer.headers["location"] == "/graphiql"


async def test_metrics_count_requests_by_agency(api: Api, world: World) -> None:
    await api.data(RESIDENT, {"id": world.head})
    metrics = (await api.client.get("/metrics")).text
    assert 'agency="motcua-danang"' in metrics
    assert "lienthong_policy_decisions_total" in metrics
    assert "lienthong_audit_flush_seconds_count" in metrics


@pytest.fixture
def other_home(tmp_path: Path) -> Path:
    return tmp_path / "home"


async def test_rate_limited(gateway_settings: Settings, other_home: Path, world: World) -> None:
    limited = _settings(
        gateway_settings, other_home, rate_limit_per_second=0.01, rate_limit_burst=2
    )
    async for api in running(limited):
        codes = [_codes(await api.data('{ adminUnit(code: "48") { name } }', purpose=None))
                 for _ in range(2)]  # fmt: skip
        assert codes == [[], []]
        answer = await api.prefill_ct01(world.spouse)
        assert answer.status_code == 429
        assert _codes(answer.json()) == ["RATE_LIMITED"]
        retry = answer.json()["errors"][0]["extensions"]["retryAfter"]
        assert retry >= 1
        assert answer.headers["Retry-After"] == str(retry)
        other = await api.data(
            '{ adminUnit(code: "48") { name } }', agency="thue-hcm", purpose=None
        )
        assert _codes(other) == []


async def test_policy_engine_down_fails_closed(
    gateway_settings: Settings, other_home: Path, world: World
) -> None:
    dead_opa = f"http://127.0.0.1:{free_port()}"
    async for api in running(_settings(gateway_settings, other_home, opa_url=dead_opa)):
        assert isinstance(api.app.state.services.policy, OpaEngine)
        for answer in (
            await api.post(RESIDENT, {"id": world.head}),
            await api.prefill_ct01(world.spouse),
        ):
            assert answer.status_code == 503
            assert answer.json()["data"] is None
            assert _codes(answer.json()) == ["UNAVAILABLE"]
        assert (await api.client.get("/readyz")).json()["checks"]["policy"] != "ok"


async def test_registry_database_down_fails_closed(
    gateway_settings: Settings, other_home: Path, world: World
) -> None:
    async for api in running(_settings(gateway_settings, other_home)):
        services = api.app.state.services
        dead = _settings(gateway_settings, other_home, database_url="", database_port=free_port())
        services.sessions = session_factory(create_engine(dead))
        if services.reads is not None:
            await services.reads.close()
            services.reads = await asyncpg.create_pool(dead.libpq_url, min_size=0)
        for answer in (
            await api.post(RESIDENT, {"id": world.head}),
            await api.prefill_ct01(world.spouse),
        ):
            assert answer.status_code == 503, answer.text
            assert answer.json() == {
                "data": None,
                "errors": [
                    {
                        # the decision, taken before any registry read, is what fails first
                        "message": "the policy data is unavailable: no data is returned",
                        "extensions": {"code": "UNAVAILABLE"},
                    }
                ],
            }


async def test_access_log_down_fails_closed(
    gateway_settings: Settings, other_home: Path, world: World
) -> None:
    async for api in running(_settings(gateway_settings, other_home)):
        await api.app.state.services.audit.stop()
        for answer in (
            await api.post(RESIDENT, {"id": world.head}),
            await api.prefill_ct01(world.spouse),
        ):
            assert answer.status_code == 503
            assert answer.json() == {
                "data": None,
                "errors": [
                    {
                        "message": "the access log is unavailable: no data is returned",
                        "extensions": {"code": "UNAVAILABLE"},
                    }
                ],
            }
        public = await api.data('{ adminUnit(code: "48") { name } }', purpose=None)
        assert public["data"]["adminUnit"]["name"] == "Thành phố Đà Nẵng"


async def test_as_of_reads_the_registry_as_it_was(api: Api, world: World) -> None:
    query = "query($id: ID!, $at: Date) { resident(id: $id, asOf: $at) { fullName } }"
    now = await api.data(query, {"id": world.renamed, "at": None})
    assert now["data"]["resident"]["fullName"] == "Hoàng Mai Anh"
    then = await api.data(query, {"id": world.renamed, "at": "2021-06-30"})
    assert then["data"]["resident"]["fullName"] == "Hoàng Thị Mai"
    before = await api.data(query, {"id": world.renamed, "at": "2019-12-31"})
    assert before == {"data": {"resident": None}}
    bad = await api.data(query, {"id": world.renamed, "at": "30/06/2021"})
    assert bad["data"] is None
    assert "Date" in bad["errors"][0]["message"]


async def test_cross_links_decide_each_linked_subject(api: Api, world: World) -> None:
    query = """query($id: ID!) { resident(id: $id) { fullName
      parcels { id area geometry } representedEnterprises { title enterprise { code name status } }
    } }"""
    answer = await api.data(query, {"id": world.head}, agency="bhxh-danang", purpose="BHXH-TT")
    resident = answer["data"]["resident"]
    assert resident["parcels"] == [{"id": world.parcel, "area": 413.5, "geometry": None}]
    (link,) = resident["representedEnterprises"]
    assert link["enterprise"]["code"] == world.enterprise
    assert link["enterprise"]["status"] is None
    assert sorted(e["extensions"]["field"] for e in answer["errors"]) == [
        "Enterprise.status",
        "Parcel.geometry",
    ]


async def test_queries_over_get_and_no_mutations_over_get(api: Api, world: World) -> None:
    headers = {"Authorization": f"Bearer {api.token('motcua-danang')}", "X-Purpose": "CT01"}
    query = f'{{ resident(id: "{world.head}") {{ fullName }} }}'
    answer = await api.client.get("/graphql", params={"query": query}, headers=headers)
    assert answer.json() == {"data": {"resident": {"fullName": "Trần Văn Bình"}}}
    mutation = 'mutation { revokeConsent(id: "x") { id } }'
    refused = await api.client.get("/graphql", params={"query": mutation}, headers=headers)
    assert refused.status_code == 400
    assert "mutation" in refused.text.lower()


# Regression tests for the disclosure-integrity probes: each names what it once let through.
HOUSEHOLD_OFFICE = "congan-hoavang"  # sees households and, through them, members' names only


def _log_rows(settings: Settings, request_id: str) -> dict[str, tuple[Any, ...]]:
    """subject id -> (given, masked, denied, outcome) of the request's access-log rows."""
    with psycopg.connect(settings.libpq_url) as connection:
        rows = connection.execute(
            "SELECT subject_id, fields_given, fields_masked, fields_denied, "
            "decision->>'outcome' FROM access_log WHERE request_id = %s",
            (request_id,),
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


async def _traced(api: Api, query: str, variables: dict[str, Any], **kw: Any) -> tuple[Any, str]:
    """The answer and the request id the server gave it (the access log's key)."""
    answer = await api.post(query, variables, **kw)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["X-Request-Id"]


def _errors_at(answer: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    return [(e["extensions"]["code"], e["path"]) for e in answer.get("errors", [])]


async def test_probe_a_legal_representatives_id_does_not_leak_to_the_tax_office(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    query = """query($code: ID!) { enterprise(code: $code) {
      legalRepresentatives { title resident { id fullName } } } }"""
    answer, request_id = await _traced(
        api, query, {"code": world.enterprise}, agency="thue-hcm", purpose="DKKD"
    )
    representative = answer["data"]["enterprise"]["legalRepresentatives"][0]
    assert representative["resident"] == {"id": None, "fullName": "Trần Văn Bình"}
    path = ["enterprise", "legalRepresentatives", 0, "resident", "id"]
    assert _errors_at(answer) == [("FORBIDDEN", path)]
    assert _log_rows(gateway_settings, request_id)[world.head] == (
        ["fullName"], [], ["id"], "disclosed"
    )  # fmt: skip


async def test_probe_a_parcel_holders_id_does_not_leak_to_the_land_office(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    query = """query($lon: Float!, $lat: Float!) { parcelsAt(lon: $lon, lat: $lat) {
      id rights { kind holder { __typename ... on Resident { id fullName } } } } }"""
    answer, request_id = await _traced(
        api, query, {"lon": PARCEL_LON, "lat": PARCEL_LAT}, agency="tainguyen-danang",
        purpose="CPXD",
    )  # fmt: skip
    (parcel,) = answer["data"]["parcelsAt"]
    holder = parcel["rights"][0]["holder"]
    assert holder == {"__typename": "Resident", "id": None, "fullName": "Trần Văn Bình"}
    assert _errors_at(answer) == [("FORBIDDEN", ["parcelsAt", 0, "rights", 0, "holder", "id"])]
    assert _log_rows(gateway_settings, request_id)[world.head] == (
        ["fullName"], [], ["id"], "disclosed"
    )  # fmt: skip


async def test_probe_household_members_ids_and_relationships_follow_the_agreement(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    query = """query($id: ID!) { household(id: $id) {
      id members { relationshipToHead resident { id fullName } } } }"""
    answer, request_id = await _traced(
        api, query, {"id": world.household}, agency=HOUSEHOLD_OFFICE, purpose="CT01"
    )
    members = answer["data"]["household"]["members"]
    assert [m["resident"]["fullName"] for m in members] == ["Trần Văn Bình", "Lê Thị Hoa"]
    assert all(m["resident"]["id"] is None and m["relationshipToHead"] is None for m in members)
    assert sorted(e["path"][-1] for e in answer["errors"]) == ["id", "id", "relationshipToHead",
                                                               "relationshipToHead"]  # fmt: skip
    logged = _log_rows(gateway_settings, request_id)
    assert logged[world.spouse] == (["fullName"], [], ["id", "relationshipToHead"], "disclosed")
    assert logged[world.household] == (["id", "members"], [], [], "disclosed")


async def test_probe_provenance_is_logged_as_given_not_denied(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    answer = await api.prefill_ct01(world.spouse)
    request_id = answer.headers["X-Request-Id"]
    fields = answer.json()["data"]["prefill"]["fields"]
    assert all(f["provenance"] is not None for f in fields if f["value"] is not None)
    given, _, denied, _ = _log_rows(gateway_settings, request_id)[world.spouse]
    assert "recordVersion" in given
    assert "recordVersion" not in denied


async def test_probe_a_banks_batch_is_logged_as_what_it_returned(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    absent = factories.new_personal_id()
    query = """query($ids: [ID!]!) { residents(ids: $ids) {
      id recordVersion { validFrom recordedAt } } }"""
    answer, request_id = await _traced(
        api, query, {"ids": [world.head, absent]}, agency="nganhang-abc", purpose="TD-VAY"
    )
    # no consent: both refused alike, with nothing of either (no version, no timestamp)
    assert answer["data"]["residents"] == [None, None]
    assert _errors_at(answer) == [("FORBIDDEN", ["residents", 0]), ("FORBIDDEN", ["residents", 1])]
    assert answer["errors"][0]["message"] == answer["errors"][1]["message"]
    logged = _log_rows(gateway_settings, request_id)
    assert logged[world.head] == ([], [], ["id", "recordVersion"], "refused")
    assert logged[absent] == ([], [], ["id", "recordVersion"], "refused")


@pytest.mark.parametrize(
    ("agency", "purpose"),
    [("nganhang-abc", "TD-VAY"), ("bhxh-danang", "CT01"), ("thue-hcm", "DKKD")],
    ids=["consent-required", "no-agreement", "only-through-a-relation"],
)
@pytest.mark.parametrize(
    "selection", ["{ __typename }", "{ id recordVersion { validFrom recordedAt } }"]
)
async def test_probe_absent_and_refused_answer_alike(
    api: Api, world: World, agency: str, purpose: str, selection: str
) -> None:
    absent = factories.new_personal_id()
    one = "query($id: ID!) { resident(id: $id) " + selection + " }"
    many = "query($ids: [ID!]!) { residents(ids: $ids) " + selection + " }"
    as_caller = {"agency": agency, "purpose": purpose}
    present_answer = await api.data(one, {"id": world.spouse}, **as_caller)
    absent_answer = await api.data(one, {"id": absent}, **as_caller)
    assert present_answer == absent_answer
    assert _codes(present_answer) == ["FORBIDDEN"]
    batch = await api.data(many, {"ids": [world.spouse, absent]}, **as_caller)
    assert batch["data"] == {"residents": [None, None]}
    first, second = batch["errors"]
    assert first["message"] == second["message"]
    assert first["extensions"] == second["extensions"]


async def test_probe_a_type_granted_only_through_a_relation_is_refused_at_the_root(
    api: Api, world: World
) -> None:
    # thue-hcm sees residents only as legal representatives
    query = "query($id: ID!) { resident(id: $id) { fullName } }"
    present = await api.data(query, {"id": world.head}, agency="thue-hcm", purpose="DKKD")
    absent = await api.data(
        query, {"id": factories.new_personal_id()}, agency="thue-hcm", purpose="DKKD"
    )
    assert present == absent
    assert _codes(present) == ["FORBIDDEN"]


async def test_probe_parcels_at_without_a_grant_is_refused_on_any_ground(api: Api) -> None:
    query = "query($lon: Float!, $lat: Float!) { parcelsAt(lon: $lon, lat: $lat) { id } }"
    bank = {"agency": "nganhang-abc", "purpose": "TD-VAY"}
    on_parcel = await api.data(query, {"lon": PARCEL_LON, "lat": PARCEL_LAT}, **bank)
    empty_ground = await api.data(query, {"lon": 105.0, "lat": 21.0}, **bank)
    assert on_parcel == empty_ground
    assert _codes(on_parcel) == ["FORBIDDEN"]


async def test_probe_lookups_of_absent_keys_are_logged_but_never_shown_to_a_citizen(
    api: Api, database_settings: Settings, gateway_settings: Settings
) -> None:
    newcomer = factories.new_personal_id()
    query = "query($id: ID!) { resident(id: $id) { fullName } }"
    seen, by_office = await _traced(api, query, {"id": newcomer})  # may see residents: null
    assert seen == {"data": {"resident": None}}
    _, by_bank = await _traced(api, query, {"id": newcomer}, agency="nganhang-abc",
                               purpose="TD-VAY")  # fmt: skip
    assert _log_rows(gateway_settings, by_office)[newcomer] == ([], [], [], "absent")
    assert _log_rows(gateway_settings, by_bank)[newcomer] == ([], [], ["fullName"], "refused")
    # the key is given to a citizen born later: none of those attempts is in their log
    engine = create_engine(database_settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await factories.make_resident(session, personal_id=newcomer, full_name="Đỗ Văn Mới")
    finally:
        await engine.dispose()
    _, after = await _traced(api, query, {"id": newcomer}, agency="nganhang-abc",
                             purpose="TD-VAY")  # fmt: skip
    log_query = "{ myAccessLog(first: 20) { nodes { agency requestId } } }"
    mine = await api.data(log_query, agency="lienthong-citizen", purpose=None, citizen_id=newcomer)
    shown = {node["requestId"] for node in mine["data"]["myAccessLog"]["nodes"]}
    assert shown == {after}  # the refusal once they exist, nothing from before


async def test_citizens_reads_of_their_own_log_and_consents_are_logged(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    answer = await api.post(
        "{ myConsents { id } myAccessLog(first: 3) { nodes { agency } } }",
        agency="lienthong-citizen",
        purpose=None,
        citizen_id=world.renamed,
    )
    request_id = answer.headers["X-Request-Id"]
    with psycopg.connect(gateway_settings.libpq_url) as connection:
        rows = connection.execute(
            "SELECT subject_id, purpose, decision->>'read', decision->>'outcome' "
            "FROM access_log WHERE request_id = %s ORDER BY decision->>'read'",
            (request_id,),
        ).fetchall()
    assert rows == [
        (world.renamed, "self", "myAccessLog", "self"),
        (world.renamed, "self", "myConsents", "self"),
    ]


async def test_a_citizens_read_of_their_own_record_is_logged_as_their_own(
    api: Api, world: World, gateway_settings: Settings
) -> None:
    answer, request_id = await _traced(
        api,
        "query($id: ID!) { resident(id: $id) { fullName religion } }",
        {"id": world.spouse},
        agency="lienthong-citizen",
        purpose="TRA-CUU",
        citizen_id=world.spouse,
    )
    assert answer["data"]["resident"] == {"fullName": "Lê Thị Hoa", "religion": "Phật giáo"}
    assert _log_rows(gateway_settings, request_id)[world.spouse] == (
        ["fullName", "religion"], [], [], "self"
    )  # fmt: skip
    mine = await api.data(
        "{ myAccessLog(first: 50) { nodes { requestId } } }",
        agency="lienthong-citizen",
        purpose=None,
        citizen_id=world.spouse,
    )
    assert request_id not in {n["requestId"] for n in mine["data"]["myAccessLog"]["nodes"]}
