"""A new agency onboarded end to end in production, with no release and no restart: a real
`lienthong serve` in `LIENTHONG_ENV=prod`, `LIENTHONG_AUTH_MODE=keycloak` behind the OpenID
stand-in (tests/oidc), everyone over HTTP with real tokens.

The platform's administrator registers the agency, which creates its Keycloak client through
the Admin REST API (the stand-in's), and its officers' key; the operator hands the client's
secret to the agency; a land steward drafts an agreement and proposes the agency's own document;
a population steward's approval of either is refused (land data is the land registry's to
decide); another land steward approves both; the agency's next request, with its own document by
hash, is answered.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwk, jwt

from gateway.identity.officers import assertion_claims
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories, openid
from tests.e2e.conftest import SAMPLE_POLICY
from tests.net import answer_key, lienthong_serve

AGENCY = "xaydung-danang"
CONSOLE, CALLBACK = "steward-console", "http://127.0.0.1/admin/callback"
STEWARDS = {  # username: realm roles
    "an.admin": ["admin"],
    "dat.land": ["steward:land"],
    "hai.land": ["steward:land"],
    "minh.population": ["steward:population"],
}
DOCUMENT = """
query BuildingPermitParcel($id: ID!) {
  parcel(id: $id) { parcelNumber mapSheet area }
}
"""
ACCEPT = "application/graphql-response+json, application/json;q=0.9"


def _secret(name: str) -> str:
    return f"s3cret-{name}"


@pytest.fixture(scope="module")
async def parcel(committed_database_url: str, home: Path) -> str:
    settings = Settings(database_url=committed_database_url, home=home)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            found = await factories.make_parcel(
                session, polygon=factories.square(108.2201, 16.0702),
                declared_area=Decimal("413.50"), map_sheet=9, parcel_number=31,
            )  # fmt: skip
    finally:
        await engine.dispose()
    return found.parcel_id


@dataclass
class Platform:
    url: str
    oidc: str
    stewards: dict[str, str]  # username: access token

    def admin(
        self, method: str, path: str, steward: str, *, etag: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.stewards[steward]}"}
        if etag is not None:
            headers["If-Match"] = etag
        return httpx.request(method, f"{self.url}/admin{path}", headers=headers, timeout=10, **kw)

    def subject(self, steward: str) -> str:
        """The steward's Keycloak user id (`sub`), which the history records."""
        payload = self.stewards[steward].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])

    def decide(self, path: str, action: str, steward: str) -> httpx.Response:
        etag = self.admin("GET", path, "an.admin").headers["ETag"]
        return self.admin("POST", f"{path}/{action}", steward, etag=etag)


@pytest.fixture(scope="module")
def platform(
    committed_database_url: str, parcel: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    clients = [
        openid.provisioner_client(_secret(openid.PROVISIONER)),
        {"client_id": CONSOLE, "client_secret": _secret(CONSOLE), "redirect_uris": [CALLBACK]},
    ]
    users = [
        {"username": user, "password": _secret(user), "roles": roles}
        for user, roles in STEWARDS.items()
    ]
    env = {
        **os.environ,
        "LIENTHONG_ENV": "prod",
        "LIENTHONG_AUTH_MODE": "keycloak",
        "LIENTHONG_DATABASE_URL": committed_database_url,
        "LIENTHONG_KEYCLOAK_REALM": openid.REALM,
        "LIENTHONG_KEYCLOAK_AUDIENCE": openid.AUDIENCE,
        "LIENTHONG_KEYCLOAK_ADMIN_CLIENT_ID": openid.PROVISIONER,
        "LIENTHONG_KEYCLOAK_ADMIN_CLIENT_SECRET": _secret(openid.PROVISIONER),
        "LIENTHONG_HOME": str(tmp_path_factory.mktemp("onboarding-home")),
        "LIENTHONG_ANSWER_SIGNING_KEY_FILE": answer_key(tmp_path_factory.mktemp("keys")),
    }
    try:
        with (
            openid.openid_stand_in(clients, tmp_path_factory.mktemp("oidc"), users=users) as oidc,
            lienthong_serve({**env, "LIENTHONG_KEYCLOAK_URL": oidc}) as url,
        ):
            tokens = {
                user: openid.authorization_code(
                    oidc, CONSOLE, username=user, password=_secret(user),
                    redirect_uri=CALLBACK, secret=_secret(CONSOLE),
                )
                for user in STEWARDS
            }  # fmt: skip
            yield Platform(url, oidc, tokens)
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


def _problem(answer: httpx.Response, status: int, reason: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = dict(answer.json())
    if reason is not None:
        assert body["reason"] == reason, body
    return body


def test_a_new_agency_is_onboarded_and_its_next_request_is_answered(
    platform: Platform, parcel: str
) -> None:
    # the administrator registers the agency; a registry steward may not
    agency = {"client_id": AGENCY, "name": "Sở Xây dựng Đà Nẵng", "kind": "construction",
              "province": "48"}  # fmt: skip
    _problem(platform.admin("POST", "/agencies", "dat.land", json=agency), 403, "scope")
    registered = platform.admin("POST", "/agencies", "an.admin", json=agency)
    assert registered.status_code == 201, registered.text
    key = jwk.JWK.generate(kty="EC", crv="P-256", kid=f"{AGENCY}-1")
    keyed = platform.admin("POST", f"/agencies/{AGENCY}/keys", "an.admin",
                           json={"jwk": key.export_public(as_dict=True)})  # fmt: skip
    assert keyed.status_code == 201, keyed.text

    # a land steward drafts and submits the agreement; land data is the land registry's to grant
    terms = {
        "agency": AGENCY, "purpose": "CPXD", "subject_type": "Parcel",
        "fields": ["id", "parcelNumber", "mapSheet", "area"],
        "legal_basis": "Luật Xây dựng 2014, Điều 95", "effective_from": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    drafted = platform.admin("POST", "/agreements", "dat.land", json=terms)
    assert drafted.status_code == 201, drafted.text
    path = f"/agreements/{AGENCY}/CPXD/Parcel"
    assert platform.decide(path, "submit", "dat.land").status_code == 200
    _problem(platform.decide(path, "approve", "dat.land"), 403, "four_eyes")
    _problem(platform.decide(path, "approve", "minh.population"), 403, "scope")
    approved = platform.decide(path, "approve", "hai.land")
    assert approved.json()["status"] == "approved", approved.text
    assert approved.json()["approved_by"] == platform.subject("hai.land")  # their user id

    # its own document, proposed by one land steward, approved by the other
    proposed = platform.admin(
        "POST", "/documents", "dat.land",
        json={"agency": AGENCY, "purpose": "CPXD", "text": DOCUMENT},
    )  # fmt: skip
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["needs"] == ["land"]
    document = f"/documents/{AGENCY}/BuildingPermitParcel"
    _problem(platform.decide(document, "approve", "minh.population"), 403, "scope")
    in_force = platform.decide(document, "approve", "hai.land")
    assert in_force.json()["status"] == "approved", in_force.text

    # the agency's next request: its token (the secret the operator hands over), a verified
    # officer, its own document by manifest hash
    operator = openid.client_credentials(
        platform.oidc, openid.PROVISIONER, _secret(openid.PROVISIONER)
    )
    secret = openid.client_secret(platform.oidc, operator, AGENCY)
    token = openid.client_credentials(platform.oidc, AGENCY, secret)
    claims = assertion_claims(
        agency=AGENCY, officer="xd-0007", name="Ngô Văn Xây", unit="Phòng Cấp phép",
        audience=openid.AUDIENCE, issued_at=int(time.time()), ttl_seconds=300,
    )  # fmt: skip
    assertion = jwt.JWT(header={"alg": "ES256", "kid": f"{AGENCY}-1"}, claims=claims)
    assertion.make_signed_token(key)
    headers = {
        "Authorization": f"Bearer {token}", "X-Officer-Assertion": assertion.serialize(),
        "X-Purpose": "CPXD", "Accept": ACCEPT,
    }  # fmt: skip
    manifest = httpx.get(f"{platform.url}/graphql/documents", headers=headers, timeout=10)
    operations = {o["name"]: o for o in manifest.json()["operations"]}
    assert "BuildingPermitParcel" in operations
    body = {
        "operationName": "BuildingPermitParcel",
        "variables": {"id": parcel},
        "extensions": {"persistedQuery": {"version": 1,
                                          "sha256Hash": operations["BuildingPermitParcel"]["id"]}},
    }  # fmt: skip
    answer = httpx.post(f"{platform.url}/graphql", json=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": {"parcel": {"parcelNumber": 31, "mapSheet": 9, "area": 413.5}}}
