"""The platform's mission in production, end to end: a real `lienthong serve --workers 2` with
`LIENTHONG_ENV=prod` and `LIENTHONG_AUTH_MODE=keycloak` behind the OpenID stand-in for Keycloak
(tests/oidc), everything over HTTP with real tokens.

- Agencies get tokens by client credentials; a steward and a citizen sign in by the
  authorization-code flow with PKCE on the stand-in's login page, through the realm's
  `steward-console` and `citizen-portal` clients.
- The one-stop centre, the land office and the tax office run the trusted documents of the
  manifest (`GET /graphql/documents`) by hash, the way Apollo sends them, with a verified
  officer (an assertion signed with the key a steward registered for the agency); the
  case-bound purpose's form under a dossier.
- A citizen grants a bank consent, the bank reads, the citizen revokes, the bank is refused
  exactly as for a personal ID nobody holds, and the citizen's access log shows it all.
- A steward edits a form and creates one through the admin API: both workers answer with the
  new fields, and run the new form's generated document, without a restart. Which worker
  answered is told by a hash only one of them was taught (automatic persisted queries are
  remembered per process).
- `lienthong audit verify` walks the access log the mission wrote.

Tests run in the order written, each building on the one before (one gateway, one database).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from jwcrypto import jwk, jwt

from gateway.identity.officers import assertion_claims
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories, openid
from tests.e2e.conftest import SAMPLE_POLICY
from tests.net import LIENTHONG, answer_key, lienthong_serve

ONE_STOP, TAX, LAND, BANK = "motcua-danang", "thue-hcm", "tainguyen-danang", "nganhang-abc"
AGENCIES = (ONE_STOP, TAX, LAND, BANK)
OFFICERS = {  # who acts at each agency: (officer id, name, unit)
    ONE_STOP: ("cb-0042", "Nguyễn Thị Lan", "Bộ phận Một cửa phường Hải Châu"),
    TAX: ("thue-0815", "Võ Văn Tài", "Phòng Đăng ký thuế"),
    LAND: ("dd-0311", "Huỳnh Thị Đất", "Văn phòng Đăng ký đất đai, Chi nhánh Hải Châu"),
    BANK: ("tdv-0107", "Phạm Minh Khoa", "Phòng Thẩm định tín dụng, Chi nhánh Đà Nẵng"),
}
STEWARD_CONSOLE, CITIZEN_PORTAL = "steward-console", "citizen-portal"
CONSOLE_CALLBACK = "http://127.0.0.1/admin/callback"
PORTAL_CALLBACK = "http://127.0.0.1/citizen/callback"
# A steward who proposes changes (role `steward`), and the population registry's steward who
# approves what reads residents (role `steward:population`): four-eyes
STEWARD_USER, REGISTRY_STEWARD = "thao.steward", "minh.population"
STEWARDS = {  # username: (realm roles, name)
    STEWARD_USER: (["steward"], "Đỗ Thị Thảo"),
    REGISTRY_STEWARD: (["steward:population"], "Phan Văn Minh"),
}
CITIZEN_PASSWORD = "s3cret-hoa"
GRAPHQL_ACCEPT = "application/graphql-response+json, application/json;q=0.9"
PARCEL_LON, PARCEL_LAT = 108.2276, 16.0611  # a square of this module's own
LOAN_FIELDS = ["fullName", "birthDate", "permanentAddress"]
PQ_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


def _secret(client_id: str) -> str:
    return f"s3cret-{client_id}"


@dataclass(frozen=True)
class World:
    """What the sample policy does not hold: a household (head and wife), an enterprise the
    head represents, a parcel the head holds."""

    head: str
    wife: str
    enterprise: str
    parcel: str


@pytest.fixture(scope="module")
async def world(committed_database_url: str, home: Path) -> World:
    settings = Settings(database_url=committed_database_url, home=home)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            household_id = f"48{uuid.uuid4().int % 10**10:010d}"
            head = await factories.make_resident(
                session, full_name="Trần Văn Bình", household_id=household_id,
                relationship_to_head="head",
            )  # fmt: skip
            await factories.make_household(session, head=head, household_id=household_id)
            wife = await factories.make_resident(
                session, full_name="Lê Thị Hoa", sex="female", birth_date=date(1988, 7, 9),
                household_id=household_id, relationship_to_head="wife",
                temporary_commune_code=factories.HAI_CHAU, temporary_address_line="7 Lê Duẩn",
            )  # fmt: skip
            enterprise = await factories.make_enterprise(
                session, name="Công ty TNHH Thương mại Sông Hàn"
            )
            await factories.make_representative(session, enterprise=enterprise, resident=head)
            await factories.make_business_line(
                session, enterprise=enterprise, vsic_code="47110", is_main=True
            )
            parcel = await factories.make_parcel(
                session, polygon=factories.square(PARCEL_LON, PARCEL_LAT),
                declared_area=Decimal("413.50"), map_sheet=12, parcel_number=57,
            )  # fmt: skip
            await factories.make_right(session, parcel=parcel, holder_id=head.personal_id)
    finally:
        await engine.dispose()
    return World(
        head=head.personal_id,
        wife=wife.personal_id,
        enterprise=enterprise.enterprise_code,
        parcel=parcel.parcel_id,
    )


@pytest.fixture(scope="module")
def oidc(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stand-in with the realm's clients: the four agencies (client credentials), the
    stewards' console (confidential, a login) and the citizens' portal (public, a login); and
    two people, a steward and the wife, a citizen who signs in with her personal ID."""
    clients: list[dict[str, Any]] = [
        *({"client_id": a, "client_secret": _secret(a), "roles": ["agency"]} for a in AGENCIES),
        {
            "client_id": STEWARD_CONSOLE, "client_secret": _secret(STEWARD_CONSOLE),
            "redirect_uris": [CONSOLE_CALLBACK],
        },
        {"client_id": CITIZEN_PORTAL, "public": True, "redirect_uris": [PORTAL_CALLBACK]},
    ]  # fmt: skip
    users: list[dict[str, Any]] = [
        *({"username": user, "password": _secret(user), "roles": roles, "name": name}
          for user, (roles, name) in STEWARDS.items()),
        {
            "username": world.wife, "password": CITIZEN_PASSWORD, "roles": ["citizen"],
            "name": "Lê Thị Hoa", "claims": {"citizen_id": world.wife},
        },
    ]  # fmt: skip
    try:
        with openid.openid_stand_in(clients, tmp_path_factory.mktemp("oidc"), users=users) as url:
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


def _claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the gateway verifies; the test only reads)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _pq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def _code(answer: dict[str, Any]) -> str | None:
    errors = answer.get("errors") or []
    return errors[0].get("extensions", {}).get("code") if errors else None


@dataclass
class Document:
    name: str
    id: str
    body: str


@dataclass
class Mission:
    """The prod gateway (two workers) and the callers of the mission."""

    url: str
    oidc: str
    database_url: str
    keys: dict[str, jwk.JWK]
    steward_tokens: dict[str, str]  # by username
    citizen_token: str
    tokens: dict[str, str] = field(default_factory=dict)
    dossiers: dict[str, str] = field(default_factory=dict)  # number: agency

    @property
    def graphql(self) -> str:
        return f"{self.url}/graphql"

    def token(self, client_id: str) -> str:
        """The client's access token (one per module: it lives 300 s, the module far less)."""
        if client_id not in self.tokens:
            self.tokens[client_id] = openid.client_credentials(
                self.oidc, client_id, _secret(client_id)
            )
        return self.tokens[client_id]

    def steward(self, username: str = STEWARD_USER, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.steward_tokens[username]}", **headers}

    def citizen(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.citizen_token}", "Accept": GRAPHQL_ACCEPT}

    def assertion(self, agency: str) -> str:
        """An officer assertion as the agency's software signs it (docs/identity.md)."""
        officer, name, unit = OFFICERS[agency]
        claims = assertion_claims(
            agency=agency, officer=officer, name=name, unit=unit,
            audience=openid.AUDIENCE, issued_at=int(time.time()), ttl_seconds=300,
        )  # fmt: skip
        token = jwt.JWT(header={"alg": "ES256", "kid": f"{agency}-e2e-1"}, claims=claims)
        token.make_signed_token(self.keys[agency])
        return str(token.serialize())

    def agency(
        self, agency: str, purpose: str | None = None, dossier: str | None = None
    ) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token(agency)}",
            "X-Officer-Assertion": self.assertion(agency),
            "Accept": GRAPHQL_ACCEPT,
        }
        if purpose is not None:
            headers["X-Purpose"] = purpose
        if dossier is not None:
            headers["X-Dossier"] = dossier
        return headers

    def manifest(self, headers: dict[str, str]) -> dict[str, Document]:
        """The documents the caller may run, as a client fetches them."""
        answer = httpx.get(f"{self.graphql}/documents", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["format"] == "apollo-persisted-query-manifest"
        documents = {}
        for operation in body["operations"]:
            text = operation["body"]
            assert operation["id"] == hashlib.sha256(text.encode()).hexdigest()
            documents[operation["name"]] = Document(operation["name"], operation["id"], text)
        return documents

    def send(self, name: str, variables: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        """A trusted document by its manifest id, as Apollo's persisted-query link sends it."""
        document = self.manifest(headers)[name]
        body = {"operationName": name, "variables": variables, "extensions": _pq(document.id)}
        return httpx.post(self.graphql, json=body, headers=headers, timeout=20)

    def run(
        self,
        name: str,
        variables: dict[str, Any],
        headers: dict[str, str],
        *,
        status: int = 200,
    ) -> dict[str, Any]:
        """The answer to `send`, once its status is checked."""
        answer = self.send(name, variables, headers)
        assert answer.status_code == status, answer.text
        return dict(answer.json())


def _register_keys(url: str, steward_token: str) -> dict[str, jwk.JWK]:
    """Each agency's officer-assertion key pair; the public half registered by the steward."""
    keys = {}
    for agency in AGENCIES:
        key = jwk.JWK.generate(kty="EC", crv="P-256", kid=f"{agency}-e2e-1")
        registered = httpx.post(
            f"{url}/admin/agencies/{agency}/keys",
            json={"jwk": key.export_public(as_dict=True)},
            headers={"Authorization": f"Bearer {steward_token}"},
            timeout=10,
        )
        assert registered.status_code == 201, registered.text
        keys[agency] = key
    return keys


@pytest.fixture(scope="module")
def mission(
    committed_database_url: str, oidc: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mission]:
    env = {
        **os.environ,
        "LIENTHONG_ENV": "prod",
        "LIENTHONG_AUTH_MODE": "keycloak",
        "LIENTHONG_KEYCLOAK_URL": oidc,
        "LIENTHONG_KEYCLOAK_REALM": openid.REALM,
        "LIENTHONG_KEYCLOAK_AUDIENCE": openid.AUDIENCE,
        "LIENTHONG_DATABASE_URL": committed_database_url,
        "LIENTHONG_HOME": str(tmp_path_factory.mktemp("prod-home")),
        "LIENTHONG_ANSWER_SIGNING_KEY_FILE": answer_key(tmp_path_factory.mktemp("keys")),
    }
    with lienthong_serve(env, workers=2) as url:
        stewards = {
            user: openid.authorization_code(
                oidc, STEWARD_CONSOLE, username=user, password=_secret(user),
                redirect_uri=CONSOLE_CALLBACK, secret=_secret(STEWARD_CONSOLE),
            )
            for user in STEWARDS
        }  # fmt: skip
        citizen = openid.authorization_code(
            oidc, CITIZEN_PORTAL, username=world.wife, password=CITIZEN_PASSWORD,
            redirect_uri=PORTAL_CALLBACK,
        )  # fmt: skip
        yield Mission(
            url=url,
            oidc=oidc,
            database_url=committed_database_url,
            keys=_register_keys(url, stewards[STEWARD_USER]),
            steward_tokens=stewards,
            citizen_token=citizen,
        )


# -- who calls: tokens -----------------------------------------------------------------------


def test_tokens_for_agencies_a_steward_and_a_citizen(mission: Mission, world: World) -> None:
    for agency in AGENCIES:
        claims = _claims(mission.token(agency))
        assert claims["azp"] == agency
        assert claims["realm_access"] == {"roles": ["agency"]}
        assert claims["aud"] == openid.AUDIENCE
    for user, (roles, name) in STEWARDS.items():
        steward = _claims(mission.steward_tokens[user])
        assert steward["azp"] == STEWARD_CONSOLE
        assert (steward["preferred_username"], steward["name"]) == (user, name)
        assert steward["realm_access"] == {"roles": roles}
        assert steward["sub"] != user  # a user id, as Keycloak's
        assert "citizen_id" not in steward
    citizen = _claims(mission.citizen_token)
    assert citizen["azp"] == CITIZEN_PORTAL
    assert citizen["realm_access"] == {"roles": ["citizen"]}
    assert citizen["citizen_id"] == world.wife

    # the gateway takes each for what it is: the steward reads the admin API, the citizen and
    # an agency do not; the stewards' console's own service account is no steward either
    forms = f"{mission.url}/admin/forms"
    assert httpx.get(forms, headers=mission.steward(), timeout=10).status_code == 200
    console = openid.client_credentials(mission.oidc, STEWARD_CONSOLE, _secret(STEWARD_CONSOLE))
    for token in (mission.citizen_token, mission.token(ONE_STOP), console):
        refused = httpx.get(forms, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "FORBIDDEN"
    consents = mission.run("MyConsents", {}, mission.citizen())
    assert consents == {"data": {"myConsents": []}}
    # in prod a citizen, like an agency, runs only trusted documents
    ad_hoc = httpx.post(
        mission.graphql, json={"query": "{ myConsents { id } }"}, headers=mission.citizen()
    )
    assert ad_hoc.status_code == 400, ad_hoc.text
    assert _code(ad_hoc.json()) == "OPERATION_NOT_ALLOWED"

    # a wrong password ends the login at the redirect URI with access_denied
    with pytest.raises(openid.LoginRefused, match="access_denied"):
        openid.authorization_code(
            mission.oidc, CITIZEN_PORTAL, username=world.wife, password="not-hers",
            redirect_uri=PORTAL_CALLBACK,
        )  # fmt: skip


# -- the one-stop centre and the land office: every form prefilled ---------------------------


def _subject(world: World, subject_type: str) -> str:
    return {"Resident": world.wife, "Parcel": world.parcel}[subject_type]


def _agency_for(purpose: str, subject_type: str) -> str:
    """The agency whose agreement in the sample policy gives this subject at the root."""
    (agency,) = {
        a["agency"] for a in SAMPLE_POLICY["agreements"]
        if a["purpose"] == purpose and a["type"] == subject_type and not a["via"]
    }  # fmt: skip
    return str(agency)


def _dossier_number(serial: int) -> str:
    """A one-stop dossier number: the receiving unit, today's date, the unit's running number."""
    return f"000.00.15.H17-{datetime.now(UTC):%y%m%d}-{serial:04d}"


def _open_dossier(
    mission: Mission, agency: str, purpose: dict[str, Any], subject: tuple[str, str]
) -> str:
    """A dossier of the agency for the purpose, naming the subject as its applicant."""
    number = _dossier_number(len(mission.dossiers) + 1)
    opened = mission.run(
        "OpenDossier",
        {
            "number": number, "purpose": purpose["code"], "procedure": purpose["procedure"],
            "subjects": [{"type": subject[0], "id": subject[1], "role": "applicant"}],
            "expiresAt": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        mission.agency(agency),
    )  # fmt: skip
    assert "errors" not in opened, opened
    assert opened["data"]["openDossier"]["number"] == number
    mission.dossiers[number] = agency
    return number


def _prefill(mission: Mission, code: str, subject: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = mission.run(f"Prefill{code}", {"subject": subject}, headers)
    assert "errors" not in answer, answer
    prefill = answer["data"]["prefill"]
    assert prefill["form"] == code
    assert prefill["subject"] == subject
    return dict(prefill)


def _filled(prefill: dict[str, Any]) -> list[tuple[str, str | None]]:
    """A prefill's field keys and values, in the form's order; a field without a value must
    say why, and one with a value where it comes from."""
    for f in prefill["fields"]:
        assert (f["value"] is None) != (f["missing"] is None), f
        if f["value"] is not None:
            assert f["provenance"]["registry"] in {"residents", "households", "parcels"}, f
            assert f["provenance"]["recordVersion"]["validFrom"], f
    return [(f["key"], f["value"]) for f in prefill["fields"]]


def _expected_forms(world: World) -> dict[str, dict[str, str | None]]:
    """What each form of the sample says of the module's residents and parcel."""
    address = "12 Trần Phú, Phường Hải Châu, Thành phố Đà Nẵng"
    return {
        "CT01": {
            "ho_ten": "Lê Thị Hoa", "ngay_sinh": "1988-07-09", "gioi_tinh": "female",
            "so_dinh_danh": world.wife, "dan_toc": "Kinh", "quoc_tich": "VN",
            "noi_thuong_tru": address, "ho_ten_chu_ho": "Trần Văn Bình",
            "so_dinh_danh_chu_ho": world.head, "quan_he_voi_chu_ho": "wife",
        },
        "HKD01": {
            "ho_ten_chu_ho_kinh_doanh": "Lê Thị Hoa", "ngay_sinh": "1988-07-09",
            "gioi_tinh": "female", "dan_toc": "Kinh", "quoc_tich": "VN",
            "so_dinh_danh": world.wife, "dia_chi_thuong_tru": address,
            "dia_chi_lien_lac": "7 Lê Duẩn, Phường Hải Châu, Thành phố Đà Nẵng",
        },
        "XD01": {
            "thua_dat_so": "57", "to_ban_do_so": "12",
            "dia_chi_thua_dat": "Tổ 5, Phường Hải Châu, Thành phố Đà Nẵng",
            "dien_tich": "413.5", "muc_dich_su_dung": "Đất ở tại đô thị",
            "so_giay_chung_nhan": "CS 01234", "nguoi_su_dung_dat": "Trần Văn Bình",
        },
    }  # fmt: skip


def test_every_form_prefilled(mission: Mission, world: World) -> None:
    """Each form the admin API lists, by its generated document, for the agency whose
    agreement covers its purpose; a case-bound purpose's under a dossier opened first."""
    forms = httpx.get(f"{mission.url}/admin/forms", headers=mission.steward(), timeout=10)
    assert forms.status_code == 200
    expected = _expected_forms(world)
    assert sorted(f["code"] for f in forms.json()) == sorted(expected)
    case_bound = []
    for form in forms.json():
        code, purpose, subject_type = form["code"], form["purpose"], form["subject_type"]
        agency = _agency_for(purpose, subject_type)
        subject = _subject(world, subject_type)
        read = httpx.get(
            f"{mission.url}/admin/purposes/{purpose}", headers=mission.steward(), timeout=10
        )
        assert read.status_code == 200
        dossier = None
        if read.json()["case_bound"]:
            case_bound.append(code)
            # without a dossier, nothing: the same answer whatever the reason
            refused = mission.run(
                f"Prefill{code}", {"subject": subject}, mission.agency(agency, purpose),
                status=400,
            )  # fmt: skip
            assert "data" not in refused  # a request error: it did not execute
            assert _code(refused) == "DOSSIER_REQUIRED"
            dossier = _open_dossier(mission, agency, read.json(), (subject_type, subject))
        prefill = _prefill(mission, code, subject, mission.agency(agency, purpose, dossier))
        assert prefill["title"] == form["title"]
        assert _filled(prefill) == list(expected[code].items()), code
    assert case_bound == ["HKD01"]


# -- the tax office and the land office ------------------------------------------------------


def test_the_tax_office_reads_an_enterprise(mission: Mission, world: World) -> None:
    answer = mission.run("EnterpriseDKKD", {"code": world.enterprise}, mission.agency(TAX, "DKKD"))
    assert "errors" not in answer, answer
    enterprise = answer["data"]["enterprise"]
    assert enterprise.pop("charterCapital") == "5000000000"  # positional, never "5.0E+9"
    assert enterprise == {
        "code": world.enterprise,
        "name": "Công ty TNHH Thương mại Sông Hàn",
        "type": "tnhh_1tv",
        "status": "active",
        "registeredOn": "2015-06-01",
        "headOffice": {"fullAddress": "45 Bạch Đằng, Phường Hải Châu, Thành phố Đà Nẵng"},
        # the representative's name only, through the enterprise (agreement `via`)
        "legalRepresentatives": [{"title": "Giám đốc", "resident": {"fullName": "Trần Văn Bình"}}],
        "businessLines": [
            {
                "code": "47110",
                "name": "Bán lẻ lương thực, thực phẩm, đồ uống, thuốc lá, thuốc lào chiếm tỷ "
                "trọng lớn trong các cửa hàng kinh doanh tổng hợp",
                "main": True,
            }
        ],
    }
    # the tax office's purpose gives it no resident at the root
    refused = mission.run("ResidentCT01", {"id": world.head}, mission.agency(TAX, "DKKD"))
    assert refused["data"] == {"resident": None}
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]


def test_the_land_office_reads_the_parcels_at_a_point(mission: Mission, world: World) -> None:
    point = {"lon": PARCEL_LON + 0.00009, "lat": PARCEL_LAT + 0.00009}  # inside the square
    answer = mission.run("ParcelsAtCPXD", point, mission.agency(LAND, "CPXD"))
    assert answer == {
        "data": {
            "parcelsAt": [
                {
                    "id": world.parcel,
                    "parcelNumber": 57,
                    "mapSheet": 12,
                    "area": 413.5,
                    "landUse": {"code": "ODT", "name": "Đất ở tại đô thị"},
                    "rights": [
                        {
                            "kind": "use_right",
                            "certificateNumber": "CS 01234",
                            "holder": {"__typename": "Resident", "fullName": "Trần Văn Bình"},
                        }
                    ],
                }
            ]
        }
    }
    away = {"lon": PARCEL_LON - 0.01, "lat": PARCEL_LAT - 0.01}
    assert mission.run("ParcelsAtCPXD", away, mission.agency(LAND, "CPXD")) == {
        "data": {"parcelsAt": []}
    }


# -- a citizen's consent: grant, the bank reads, revoke, the bank is refused, the log ----------


def test_consent_granted_read_revoked_refused_and_logged(mission: Mission, world: World) -> None:
    bank = mission.agency(BANK, "TD-VAY")
    # without the citizen's consent the bank's agreement gives nothing: refused exactly as a
    # personal ID nobody holds is (nothing tells the bank she exists)
    before = mission.run("ResidentCT01", {"id": world.wife}, bank)
    nobody = mission.run("ResidentCT01", {"id": factories.new_personal_id()}, bank)
    assert before == nobody
    assert before["data"] == {"resident": None}
    (error,) = before["errors"]
    assert error["path"] == ["resident"]
    assert error["extensions"] == {
        "code": "FORBIDDEN",
        "field": "resident",
        "reason": "no agreement in force or consent covers this subject for this purpose",
    }

    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    granted = mission.run(
        "GrantConsent",
        {"agency": BANK, "purpose": "TD-VAY", "fields": LOAN_FIELDS,
         "expiresAt": expires.isoformat().replace("+00:00", "Z")},
        mission.citizen(),
    )  # fmt: skip
    assert "errors" not in granted, granted
    consent = granted["data"]["grantConsent"]
    assert {k: consent[k] for k in ("agency", "purpose", "fields", "revokedAt", "channel")} == {
        "agency": BANK, "purpose": "TD-VAY", "fields": LOAN_FIELDS, "revokedAt": None,
        "channel": "online",
    }  # fmt: skip
    assert datetime.fromisoformat(consent["expiresAt"]) == expires

    # under it, what she consented to and nothing more (the document asks for more)
    read = mission.send("ResidentCT01", {"id": world.wife}, bank)
    assert read.status_code == 200
    assert read.json()["data"] == {
        "resident": {
            "id": world.wife, "fullName": "Lê Thị Hoa", "birthDate": "1988-07-09",
            "sex": None, "ethnicity": None, "nationality": None,
            "permanentAddress": {"fullAddress": "12 Trần Phú, Phường Hải Châu, Thành phố Đà Nẵng"},
            "relationshipToHead": None,
        }
    }  # fmt: skip
    denied = [(e["extensions"]["code"], e["extensions"]["field"]) for e in read.json()["errors"]]
    assert denied == [
        ("FORBIDDEN", f"Resident.{name}")
        for name in ("ethnicity", "nationality", "relationshipToHead", "sex")
    ]

    revoked = mission.run("RevokeConsent", {"id": consent["id"]}, mission.citizen())
    assert revoked["data"]["revokeConsent"]["id"] == consent["id"]
    assert revoked["data"]["revokeConsent"]["revokedAt"] is not None
    # the bank's next request, whichever worker takes it: refused, as if she did not exist
    after = mission.run("ResidentCT01", {"id": world.wife}, bank)
    assert after == nobody

    # what she sees: the bank's refusals and its one disclosure, by whom and under what law
    log = mission.run("MyAccessLog", {"first": 50}, mission.citizen())
    assert "errors" not in log, log
    entries = [e for e in log["data"]["myAccessLog"]["nodes"] if e["agency"] == BANK]
    assert [e["outcome"] for e in entries] == ["refused", "disclosed", "refused"]  # newest first
    disclosed = entries[1]
    assert disclosed["requestId"] == read.headers["x-request-id"]
    del disclosed["occurredAt"], disclosed["requestId"]
    officer, name, unit = OFFICERS[BANK]
    assert disclosed == {
        "agency": BANK, "purpose": "TD-VAY",
        "legalBasis": "Luật Bảo vệ dữ liệu cá nhân 2025: sự đồng ý của chủ thể dữ liệu",
        "officer": officer, "officerName": name, "officerUnit": unit, "officerVerified": True,
        "dossier": None, "subjectType": "resident",
        "fieldsGiven": ["birthDate", "fullName", "id", "permanentAddress"], "fieldsMasked": [],
        "fieldsDenied": ["ethnicity", "nationality", "relationshipToHead", "sex"],
        "outcome": "disclosed",
    }  # fmt: skip
    assert entries[0]["fieldsGiven"] == entries[2]["fieldsGiven"] == []
    consents = mission.run("MyConsents", {}, mission.citizen())
    assert consents == {"data": {"myConsents": [revoked["data"]["revokeConsent"]]}}


# -- stewards' forms, in force on both workers without a restart -----------------------------


@dataclass
class ByWorker:
    """Answers to one document, told apart by the worker that gave them."""

    taught: list[dict[str, Any]] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answers(self) -> list[dict[str, Any]]:
        return [*self.taught, *self.other]


def _on_both_workers(
    mission: Mission, name: str, variables: dict[str, Any], headers: dict[str, str],
    *, connections: int = 20,
) -> ByWorker:  # fmt: skip
    """The document run on `connections` new connections (the kernel hands each to either
    worker), until both workers have answered.

    Which worker answers is told by a hash only one of them knows: the document's text with a
    comment of its own is sent once with its hash (automatic persisted queries: that worker
    remembers the hash), then each new connection first sends that hash alone. The taught
    worker runs it; the other answers PERSISTED_QUERY_NOT_FOUND, and then runs the document by
    its manifest id on the same connection, hence the same worker."""
    document = mission.manifest(headers)[name]
    probe = f"# which worker answers: {uuid.uuid4().hex}\n{document.body}"
    probe_hash = hashlib.sha256(probe.encode()).hexdigest()
    base = {"operationName": name, "variables": variables}
    by_worker = ByWorker()
    with httpx.Client(timeout=20) as http:
        taught = http.post(
            mission.graphql, json={**base, "query": probe, "extensions": _pq(probe_hash)},
            headers=headers,
        )  # fmt: skip
        assert taught.status_code == 200, taught.text
        by_worker.taught.append(taught.json())
    for _ in range(3 * connections):
        if len(by_worker.answers) > connections and by_worker.taught and by_worker.other:
            break
        with httpx.Client(timeout=20) as http:  # a new connection
            answer = http.post(
                mission.graphql, json={**base, "extensions": _pq(probe_hash)}, headers=headers
            )
            if _code(answer.json()) != PQ_NOT_FOUND:
                assert answer.status_code == 200, answer.text
                by_worker.taught.append(answer.json())
                continue
            answer = http.post(
                mission.graphql, json={**base, "extensions": _pq(document.id)}, headers=headers
            )
            assert answer.status_code == 200, answer.text
            by_worker.other.append(answer.json())
    assert by_worker.taught, "no answer came from the worker taught the probe"
    assert by_worker.other, "every connection went to one worker"
    return by_worker


def _propose_and_approve(
    mission: Mission,
    code: str,
    template: dict[str, Any],
    *,
    if_match: str | None = None,
    while_pending: Callable[[], None],
) -> None:
    """A steward proposes the form, and nothing changes (`while_pending` checks it); the
    proposer may not approve it (four-eyes); the population registry's steward does, and it is
    in force."""
    form_url = f"{mission.url}/admin/forms/{code}"
    preconditions = {} if if_match is None else {"If-Match": if_match}
    proposed = httpx.put(
        form_url, json=template, headers=mission.steward(**preconditions), timeout=10
    )
    assert proposed.status_code == 202, proposed.text
    proposal = proposed.json()
    assert (proposal["status"], proposal["needs"]) == ("submitted", ["population"])
    assert proposal["proposed_by"] == _claims(mission.steward_tokens[STEWARD_USER])["sub"]
    while_pending()
    decision = {"If-Match": proposed.headers["ETag"]}
    own = httpx.post(f"{form_url}/approve", headers=mission.steward(**decision), timeout=10)
    assert own.status_code == 403, own.text
    assert (own.json()["code"], own.json()["reason"]) == ("FORBIDDEN", "four_eyes")
    approved = httpx.post(
        f"{form_url}/approve", headers=mission.steward(REGISTRY_STEWARD, **decision), timeout=10
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["approvals"] == {
        "population": _claims(mission.steward_tokens[REGISTRY_STEWARD])["sub"]
    }


def test_a_form_edited_by_a_steward_is_in_force_on_both_workers(
    mission: Mission, world: World
) -> None:
    one_stop = mission.agency(ONE_STOP, "CT01")
    form_url = f"{mission.url}/admin/forms/CT01"
    read = httpx.get(form_url, headers=mission.steward(), timeout=10)
    assert read.status_code == 200
    form = read.json()
    assert (form["source"], form["status"]) == ("file", "in_force")
    # the residence form drops the ethnicity and asks for the temporary address
    fields = [f for f in form["fields"] if f["key"] != "dan_toc"]
    at = [f["key"] for f in fields].index("noi_thuong_tru") + 1
    fields.insert(at, {"key": "noi_tam_tru", "label": "Nơi tạm trú",
                       "path": "temporaryAddress.fullAddress"})  # fmt: skip
    edited = {k: form[k] for k in ("title", "procedure", "legal_reference", "purpose")}
    edited |= {"subject_type": form["subject_type"], "fields": fields}

    unconditional = httpx.put(form_url, json=edited, headers=mission.steward(), timeout=10)
    assert unconditional.status_code == 428, unconditional.text
    stale = httpx.put(form_url, json=edited, headers=mission.steward(**{"If-Match": '"0"'}))
    assert stale.status_code == 412, stale.text

    def unchanged() -> None:
        answer = mission.run("PrefillCT01", {"subject": world.wife}, one_stop)
        assert _filled(answer["data"]["prefill"]) == list(_expected_forms(world)["CT01"].items())

    _propose_and_approve(
        mission, "CT01", edited, if_match=read.headers["ETag"], while_pending=unchanged
    )
    saved = httpx.get(form_url, headers=mission.steward(), timeout=10)
    assert (saved.json()["source"], saved.json()["status"]) == ("steward", "in_force")
    assert saved.headers["ETag"] != read.headers["ETag"]

    expected = dict(_expected_forms(world)["CT01"])
    del expected["dan_toc"]
    keys = list(expected)
    keys.insert(keys.index("noi_thuong_tru") + 1, "noi_tam_tru")
    expected["noi_tam_tru"] = "7 Lê Duẩn, Phường Hải Châu, Thành phố Đà Nẵng"
    answers = _on_both_workers(mission, "PrefillCT01", {"subject": world.wife}, one_stop)
    for answer in answers.answers:  # every answer after the approval, from either worker
        assert "errors" not in answer, answer
        assert _filled(answer["data"]["prefill"]) == [(key, expected[key]) for key in keys]


CT07 = {  # Giấy xác nhận thông tin về cư trú (Mẫu CT07, Thông tư 66/2023/TT-BCA)
    "title": "Giấy xác nhận thông tin về cư trú",
    "procedure": "Xác nhận thông tin về cư trú",
    "legal_reference": "Luật Cư trú 2020; Thông tư 66/2023/TT-BCA",
    "purpose": "CT01",
    "subject_type": "Resident",
    "fields": [
        {"key": "ho_ten", "label": "Họ, chữ đệm và tên", "path": "fullName"},
        {"key": "ngay_sinh", "label": "Ngày, tháng, năm sinh", "path": "birthDate"},
        {"key": "so_dinh_danh", "label": "Số định danh cá nhân", "path": "id"},
        {"key": "noi_thuong_tru", "label": "Nơi thường trú",
         "path": "permanentAddress.fullAddress"},
        {"key": "noi_tam_tru", "label": "Nơi tạm trú", "path": "temporaryAddress.fullAddress"},
        {"key": "ho_ten_chu_ho", "label": "Họ, chữ đệm và tên chủ hộ",
         "path": "household.head.fullName"},
    ],
}  # fmt: skip


def test_a_form_created_by_a_steward_runs_on_both_workers(mission: Mission, world: World) -> None:
    one_stop = mission.agency(ONE_STOP, "CT01")
    form_url = f"{mission.url}/admin/forms/CT07"
    assert httpx.get(form_url, headers=mission.steward(), timeout=10).status_code == 404
    assert "PrefillCT07" not in mission.manifest(one_stop)

    def not_yet() -> None:
        proposed = httpx.get(form_url, headers=mission.steward(), timeout=10)
        assert proposed.json()["status"] == "proposed"
        assert "PrefillCT07" not in mission.manifest(one_stop)

    _propose_and_approve(mission, "CT07", CT07, while_pending=not_yet)
    created = httpx.get(form_url, headers=mission.steward(), timeout=10)
    assert (created.json()["source"], created.json()["status"]) == ("steward", "in_force")

    # its generated document is in the manifest at once, and runs on either worker
    assert "PrefillCT07" in mission.manifest(one_stop)
    answers = _on_both_workers(mission, "PrefillCT07", {"subject": world.wife}, one_stop)
    for answer in answers.answers:
        assert "errors" not in answer, answer
        prefill = answer["data"]["prefill"]
        assert (prefill["form"], prefill["title"]) == ("CT07", CT07["title"])
        assert _filled(prefill) == [
            ("ho_ten", "Lê Thị Hoa"), ("ngay_sinh", "1988-07-09"), ("so_dinh_danh", world.wife),
            ("noi_thuong_tru", "12 Trần Phú, Phường Hải Châu, Thành phố Đà Nẵng"),
            ("noi_tam_tru", "7 Lê Duẩn, Phường Hải Châu, Thành phố Đà Nẵng"),
            ("ho_ten_chu_ho", "Trần Văn Bình"),
        ]  # fmt: skip
    listed = httpx.get(f"{mission.url}/admin/forms", headers=mission.steward(), timeout=10)
    assert {f["code"]: f["source"] for f in listed.json()} == {
        "CT01": "steward", "CT07": "steward", "HKD01": "file", "XD01": "file",
    }  # fmt: skip


# -- the access log, verified ----------------------------------------------------------------


def test_audit_verify_walks_the_chains_the_mission_wrote(mission: Mission) -> None:
    with psycopg.connect(Settings(database_url=mission.database_url).libpq_url) as connection:
        rows, agencies = connection.execute(
            "SELECT count(*), array_agg(DISTINCT agency ORDER BY agency) FROM access_log"
        ).fetchone() or (0, [])
    assert set(AGENCIES) <= set(agencies)
    env = {**os.environ, "LIENTHONG_DATABASE_URL": mission.database_url}
    verified = subprocess.run(
        [str(LIENTHONG), "audit", "verify"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"intact: {rows:,} entries" in verified.stderr
