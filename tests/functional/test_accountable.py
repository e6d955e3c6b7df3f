"""Accountable access through HTTP: dossiers binding case-bound requests to their subjects,
verified officers (assertions signed with the agency's registered keys, and their rotation),
rate limits and daily quotas shared through the database, and what the citizen and the steward
then see in the access log."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from jwcrypto import jwk, jwt

from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.officers import assertion_claims
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.history import VIETNAM_TIME
from tests import clients, factories
from tests.graphql_world import SAMPLE_POLICY

RESIDENT = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"
OPEN = """
mutation($number: String!, $purpose: String!, $subjects: [DossierSubjectInput!]!,
         $expiresAt: DateTime!) {
  openDossier(number: $number, purpose: $purpose, subjects: $subjects, expiresAt: $expiresAt) {
    number purpose openedBy expiresAt subjects { type id role }
  }
}"""
CLOSE = "mutation($n: String!) { closeDossier(number: $n) { number closedAt } }"
MY_LOG = """{ myAccessLog(first: 50) { nodes {
  agency purpose officer officerName officerUnit officerVerified dossier outcome fieldsGiven
} } }"""
AGENCY = "motcua-danang"
ABSENT = "048099999999"  # a well-formed personal ID the registry does not hold


@dataclass
class World:
    applicant: str
    neighbour: str  # a resident no dossier names
    member: str


@pytest.fixture(scope="module")
def settings_(committed_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=committed_database_url,
        home=tmp_path_factory.mktemp("accountable-home"),
        graphql_plans=False,
    )


@pytest.fixture(scope="module")
async def world(settings_: Settings) -> World:
    engine = create_engine(settings_, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            applicant = await factories.make_resident(session, full_name="Trần Văn Bình")
            neighbour = await factories.make_resident(session, full_name="Phạm Thị Cúc")
            member = await factories.make_resident(session, full_name="Trần Thị Dung")
    finally:
        await engine.dispose()
    return World(applicant.personal_id, neighbour.personal_id, member.personal_id)


class Officers:
    """An agency's signing keys, as its one-stop software would hold them."""

    def __init__(self, audience: str) -> None:
        self.audience = audience
        self.keys: dict[str, jwk.JWK] = {}

    def new_key(self, kid: str) -> dict[str, Any]:
        key = jwk.JWK.generate(kty="EC", crv="P-256", kid=kid)
        self.keys[kid] = key
        public: dict[str, Any] = key.export_public(as_dict=True)
        return public

    def assertion(
        self, kid: str, *, agency: str = AGENCY, officer: str = "cb-0042", ttl: int = 300,
        audience: str | None = None, issued_at: int | None = None,
    ) -> str:  # fmt: skip
        claims = assertion_claims(
            agency=agency,
            officer=officer,
            name="Nguyễn Thị Lan",
            unit="Bộ phận Một cửa phường Hải Châu",
            audience=audience or self.audience,
            issued_at=issued_at if issued_at is not None else int(time.time()),
            ttl_seconds=ttl,
        )
        token = jwt.JWT(header={"alg": "ES256", "kid": kid}, claims=claims)
        token.make_signed_token(self.keys[kid])
        return str(token.serialize())


class Client:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        self.issuer = DevIssuer(settings)
        self.officers = Officers(settings.officer_audience)

    def steward(self, name: str = "steward-lan") -> dict[str, str]:
        return clients.steward(self.issuer, name)

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, f"/admin{path}", headers=self.steward(), **kwargs)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        agency: str = AGENCY,
        purpose: str | None = "DKHKD",
        dossier: str | None = None,
        headers: dict[str, str] | None = None,
        citizen: str | None = None,
    ) -> httpx.Response:
        if citizen is not None:
            token = self.issuer.mint(
                agency="lienthong-citizen", roles=("citizen",), citizen_id=citizen
            )
        else:
            token = self.issuer.mint(agency=agency)
        sent = {"Authorization": f"Bearer {token}"}
        if purpose:
            sent["X-Purpose"] = purpose
        if dossier:
            sent["X-Dossier"] = dossier
        sent.update(headers or {})
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
        )

    async def answer(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        response = await self.post(query, variables, **kw)
        assert response.status_code == 200, response.text
        return response.json()

    async def open_dossier(
        self, number: str, subjects: list[dict[str, str]], *, purpose: str = "DKHKD",
        expires_at: datetime | None = None, headers: dict[str, str] | None = None,
        agency: str = AGENCY,
    ) -> Any:  # fmt: skip
        return await self.answer(
            OPEN,
            {
                "number": number,
                "purpose": purpose,
                "subjects": subjects,
                "expiresAt": (expires_at or datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
            purpose=None,
            agency=agency,
            headers=headers if headers is not None else {"X-Officer": "cb-0042"},
        )


async def _client(settings: Settings) -> AsyncIterator[Client]:
    async with clients.app_client(settings) as http:
        yield Client(http, settings)


@pytest.fixture(scope="module")
async def client(settings_: Settings, world: World) -> AsyncIterator[Client]:
    async for running in _client(settings_):
        yield running


def _codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]


def _number(sequence: int, day: str = "261205") -> str:
    return f"000.00.15.H17-{day}-{sequence:04d}"


def _subject(key: str, *, kind: str = "Resident", role: str = "applicant") -> dict[str, str]:
    return {"type": kind, "id": key, "role": role}


def _sql(settings: Settings, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


async def test_case_bound_purpose_without_a_dossier_is_refused(
    client: Client, world: World
) -> None:
    answer = await client.answer(RESIDENT, {"id": world.applicant})
    assert answer["data"] is None
    assert _codes(answer) == ["DOSSIER_REQUIRED"]
    assert "DKHKD is case-bound" in answer["errors"][0]["message"]
    # a number that is not one, or one never registered: the same answer
    for sent in ("not-a-number", _number(9999)):
        other = await client.answer(RESIDENT, {"id": world.applicant}, dossier=sent)
        assert _codes(other) == ["DOSSIER_REQUIRED"]
        assert other["errors"][0]["message"] == answer["errors"][0]["message"]


async def test_a_dossier_binds_requests_to_its_subjects(
    client: Client, world: World, settings_: Settings
) -> None:
    number = _number(1)
    opened = await client.open_dossier(
        number,
        [
            {"type": "Resident", "id": world.applicant, "role": "applicant"},
            {"type": "Resident", "id": world.member, "role": "member"},
        ],
    )
    assert opened.get("errors") is None, opened
    assert opened["data"]["openDossier"]["openedBy"] == "cb-0042"
    mine = await client.answer(RESIDENT, {"id": world.applicant}, dossier=number)
    assert mine == {
        "data": {
            "resident": {
                "fullName": "Trần Văn Bình",
                "birthDate": mine["data"]["resident"]["birthDate"],
            }
        }
    }
    # another resident, present or absent, answers alike: the dossier decides before any read
    outside = await client.answer(RESIDENT, {"id": world.neighbour}, dossier=number)
    absent = await client.answer(RESIDENT, {"id": ABSENT}, dossier=number)
    assert _codes(outside) == ["FORBIDDEN"]
    assert outside == absent
    # the same request without the case-bound purpose's binding would have shown the neighbour:
    # the refusal is the dossier's
    rows = _sql(
        settings_,
        "SELECT decision->>'dossier', decision->>'outcome' FROM access_log "
        "WHERE subject_id = %s AND decision ? 'dossier' ORDER BY entry_id",
        world.neighbour,
    )
    assert rows[-1] == (number, "refused")


async def test_opening_again_is_idempotent_and_a_clash_is_refused(
    client: Client, world: World
) -> None:
    number = _number(2)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    subjects = [{"type": "Resident", "id": world.applicant, "role": "applicant"}]
    first = await client.open_dossier(number, subjects, expires_at=expires)
    again = await client.open_dossier(number, subjects, expires_at=expires)
    assert first["data"] == again["data"]
    clash = await client.open_dossier(
        number, [{"type": "Resident", "id": world.neighbour, "role": "applicant"}]
    )
    assert _codes(clash) == ["BAD_USER_INPUT"]
    assert clash["errors"][0]["extensions"]["argument"] == "number"


@pytest.mark.parametrize(
    ("number", "subjects", "expires_in", "argument"),
    [
        ("HS-1", None, 30, "number"),
        (_number(3, day="261340"), None, 30, "number"),  # no 40th of a 13th month
        (_number(4), [_subject("12345")], 30, "subjects[0].id"),
        (_number(5), [_subject("048085000123", kind="Person")], 30, "subjects[0].type"),
        (_number(6), [_subject("048085000123", role="Applicant!")], 30, "subjects[0].role"),
        (_number(7), [], 30, "subjects"),
        (_number(8), None, -1, "expiresAt"),
        (_number(9), None, 400, "expiresAt"),
    ],
)  # fmt: skip
async def test_bad_dossiers_are_refused_naming_the_input(
    client: Client,
    world: World,
    number: str,
    subjects: list[dict[str, str]] | None,
    expires_in: int,
    argument: str,
) -> None:
    answer = await client.open_dossier(
        number,
        subjects
        if subjects is not None
        else [{"type": "Resident", "id": world.applicant, "role": "applicant"}],
        expires_at=datetime.now(UTC) + timedelta(days=expires_in),
    )
    assert _codes(answer) == ["BAD_USER_INPUT"], answer
    assert answer["errors"][0]["extensions"]["argument"] == argument


async def test_only_an_agency_officer_opens_a_dossier(client: Client, world: World) -> None:
    subjects = [{"type": "Resident", "id": world.applicant, "role": "applicant"}]
    nobody = await client.open_dossier(_number(10), subjects, headers={})
    assert _codes(nobody) == ["OFFICER_REQUIRED"]
    citizen = await client.answer(
        OPEN,
        {"number": _number(11), "purpose": "DKHKD", "subjects": subjects,
         "expiresAt": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        purpose=None, citizen=world.applicant,
    )  # fmt: skip
    assert _codes(citizen) == ["FORBIDDEN"]


async def test_expired_closed_and_foreign_dossiers_serve_nothing(
    client: Client, world: World, settings_: Settings
) -> None:
    subjects = [{"type": "Resident", "id": world.applicant, "role": "applicant"}]
    expired, closed, foreign = _number(12), _number(13), _number(14)
    for number in (expired, closed):
        assert (await client.open_dossier(number, subjects)).get("errors") is None
    foreign_opened = await client.open_dossier(foreign, subjects, purpose="DKKD", agency="thue-hcm")
    assert foreign_opened.get("errors") is None, foreign_opened
    _sql(
        settings_,
        "UPDATE dossiers SET expires_at = now() - interval '1 second' WHERE number = %s",
        expired,
    )
    client.http._transport.app.state.services.dossiers.forget(expired)  # type: ignore[attr-defined]
    shut = await client.answer(CLOSE, {"n": closed}, purpose=None, headers={"X-Officer": "cb-0042"})
    assert shut["data"]["closeDossier"]["closedAt"] is not None
    answers = [
        await client.answer(RESIDENT, {"id": world.applicant}, dossier=number)
        for number in (expired, closed, foreign)
    ]
    assert [_codes(a) for a in answers] == [["DOSSIER_REQUIRED"]] * 3
    assert answers[0] == answers[1] == answers[2]


async def test_the_citizen_and_the_steward_see_the_dossier_and_the_verified_officer(
    client: Client, world: World
) -> None:
    registered = await client.admin(
        "POST", f"/agencies/{AGENCY}/keys", json={"jwk": client.officers.new_key("motcua-2026")}
    )
    assert registered.status_code == 201, registered.text
    assertion = {"X-Officer-Assertion": client.officers.assertion("motcua-2026")}
    number = _number(15)
    opened = await client.open_dossier(
        number, [{"type": "Resident", "id": world.member, "role": "applicant"}], headers=assertion
    )
    assert opened.get("errors") is None, opened
    read = await client.answer(RESIDENT, {"id": world.member}, dossier=number, headers=assertion)
    assert read["data"]["resident"]["fullName"] == "Trần Thị Dung"

    log = await client.answer(MY_LOG, purpose=None, citizen=world.member)
    nodes = log["data"]["myAccessLog"]["nodes"]
    seen = [n for n in nodes if n["dossier"] == number]
    assert [n["outcome"] for n in seen] == ["disclosed", "dossier"]  # newest first
    assert all(n["officer"] == "cb-0042" and n["officerVerified"] for n in seen)
    assert seen[0]["officerName"] == "Nguyễn Thị Lan"
    assert seen[0]["officerUnit"] == "Bộ phận Một cửa phường Hải Châu"
    assert "fullName" in seen[0]["fieldsGiven"]

    found = await client.admin("GET", "/audit", params={"dossier": number})
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert {i["outcome"] for i in items} == {"disclosed", "dossier"}
    assert all(i["dossier"] == number and i["officer_verified_by"] == "assertion" for i in items)
    today = datetime.now(VIETNAM_TIME).date().isoformat()
    counts = await client.admin(
        "GET", "/audit/daily-counts",
        params={"since": today, "until": today, "agency": AGENCY, "by_dossier": "true"},
    )  # fmt: skip
    assert counts.status_code == 200, counts.text
    mine = [c for c in counts.json() if c["dossier"] == number]
    assert len(mine) == 1 and mine[0]["entries"] == len(items)
    dossiers = await client.admin("GET", "/dossiers", params={"subject_id": world.member})
    # newest first: this one, and the first test's, which named the member too
    assert [d["number"] for d in dossiers.json()["items"]] == [number, _number(1)]
    assert dossiers.json()["items"][0]["officer"]["verified"] == "assertion"


async def test_assertions_from_another_agency_expired_or_for_another_audience_are_refused(
    client: Client, world: World
) -> None:
    foreign = await client.admin(
        "POST", "/agencies/thue-hcm/keys", json={"jwk": client.officers.new_key("thue-1")}
    )
    assert foreign.status_code == 201, foreign.text
    client.officers.new_key("motcua-ok")
    await client.admin(
        "POST", f"/agencies/{AGENCY}/keys",
        json={"jwk": client.officers.keys["motcua-ok"].export_public(as_dict=True)},
    )  # fmt: skip
    bad = {
        "another agency's key": client.officers.assertion("thue-1"),
        "issued as another agency": client.officers.assertion("motcua-ok", agency="thue-hcm"),
        "expired": client.officers.assertion(
            "motcua-ok", issued_at=int(time.time()) - 900, ttl=300
        ),
        "wrong audience": client.officers.assertion("motcua-ok", audience="another-gateway"),
        "too long-lived": client.officers.assertion("motcua-ok", ttl=86_400),
    }
    for why, assertion in bad.items():
        response = await client.post(
            RESIDENT, {"id": world.applicant}, purpose="CT01",
            headers={"X-Officer-Assertion": assertion},
        )  # fmt: skip
        assert response.status_code == 401, (why, response.text)
        assert _codes(response.json()) == ["UNAUTHENTICATED"], why
        assert response.json()["data"] is None


async def test_a_rotated_key_works_and_the_retired_one_stops(client: Client, world: World) -> None:
    officers = client.officers
    for kid in ("rot-old", "rot-new"):
        created = await client.admin(
            "POST", f"/agencies/{AGENCY}/keys", json={"jwk": officers.new_key(kid)}
        )
        assert created.status_code == 201, created.text
    old, new = officers.assertion("rot-old"), officers.assertion("rot-new")

    async def status(assertion: str) -> int:
        response = await client.post(
            RESIDENT, {"id": world.applicant}, purpose="CT01",
            headers={"X-Officer-Assertion": assertion},
        )  # fmt: skip
        return response.status_code

    assert await status(old) == 200  # verified once: kept in the verifier's cache
    retired = await client.admin("DELETE", f"/agencies/{AGENCY}/keys/rot-old")
    assert retired.status_code == 200, retired.text
    assert await status(old) == 401  # the very next request, cache or not
    assert await status(new) == 200


async def test_officers_required_refuse_free_text_and_missing_officers(
    settings_: Settings, world: World
) -> None:
    strict = settings_.model_copy(update={"officer_required": True})
    async for client in _client(strict):
        free_text = await client.answer(
            RESIDENT, {"id": world.applicant}, purpose="CT01", headers={"X-Officer": "cb-1"}
        )
        missing = await client.answer(RESIDENT, {"id": world.applicant}, purpose="CT01")
        assert _codes(free_text) == _codes(missing) == ["OFFICER_REQUIRED"]
        assert free_text["data"] is None and missing["data"] is None
        # what needs no registry data needs no officer (a citizen, the reference data)
        units = await client.answer('{ adminUnit(code: "48") { name } }', purpose=None)
        assert units.get("errors") is None, units
        token_officer = client.issuer.mint(
            agency=AGENCY,
            roles=("agency", "officer"),
            extra_claims={"preferred_username": "cb-77", "name": "Lê Văn Tám", "unit": "Phường 1"},
        )
        exchanged = await client.http.post(
            "/graphql",
            json={"query": RESIDENT, "variables": {"id": world.applicant}},
            headers={"Authorization": f"Bearer {token_officer}", "X-Purpose": "CT01"},
        )
        assert exchanged.status_code == 200 and "errors" not in exchanged.json(), exchanged.text


async def test_daily_quota_of_an_agreement_holds_and_names_it(
    settings_: Settings, world: World
) -> None:
    agreement = f"{AGENCY}/CT01/Resident"
    _sql(settings_, "DELETE FROM quota_usage WHERE agency = %s AND purpose = 'CT01'", AGENCY)
    _sql(
        settings_,
        "UPDATE agreements SET daily_quota = 2 WHERE agreement_id = %s AND valid_to IS NULL",
        agreement,
    )
    try:
        async for client in _client(settings_.model_copy(update={"quota_slice": 1})):
            seen = [
                await client.post(RESIDENT, {"id": who}, purpose="CT01")
                for who in (world.applicant, world.neighbour, world.member)
            ]
            assert [a.status_code for a in seen] == [200, 200, 429]
            assert [_codes(a.json()) for a in seen[:2]] == [[], []]
            refused = seen[2].json()
            assert _codes(refused) == ["RATE_LIMITED"]
            extensions = refused["errors"][0]["extensions"]
            assert extensions["agreement"] == agreement and extensions["quota"] == 2
            assert 0 < extensions["retryAfter"] <= 86_400
            assert agreement in refused["errors"][0]["message"]
    finally:
        _sql(
            settings_,
            "UPDATE agreements SET daily_quota = NULL WHERE agreement_id = %s AND valid_to IS NULL",
            agreement,
        )
    day = datetime.now(VIETNAM_TIME).date()
    (disclosed,) = _sql(
        settings_,
        "SELECT disclosed FROM quota_usage WHERE agency = %s AND purpose = 'CT01' "
        "AND subject_type = 'resident' AND day = %s",
        AGENCY, day,
    )[0]  # fmt: skip
    assert disclosed >= 2  # counted by the access log's group commit


async def test_rate_limits_per_agency_and_per_citizen(settings_: Settings, world: World) -> None:
    tight = settings_.model_copy(
        update={"rate_limit_per_second": 0.5, "rate_limit_burst": 2, "citizen_rate_per_second": 0.5,
                "citizen_rate_burst": 1}
    )  # fmt: skip
    async for client in _client(tight):
        agency = "tainguyen-danang"
        answers = [
            await client.post('{ adminUnit(code: "48") { name } }', purpose=None, agency=agency)
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429]
        body = answers[2].json()
        assert _codes(body) == ["RATE_LIMITED"]
        assert body["errors"][0]["extensions"]["retryAfter"] >= 1
        assert answers[2].headers["Retry-After"] == str(
            body["errors"][0]["extensions"]["retryAfter"]
        )
        # a citizen has a bucket of their own, whatever the agencies spend
        first = await client.post(MY_LOG, purpose=None, citizen=world.neighbour)
        second = await client.post(MY_LOG, purpose=None, citizen=world.neighbour)
        other = await client.post(MY_LOG, purpose=None, citizen=world.member)
        assert [first.status_code, second.status_code, other.status_code] == [200, 429, 200]
