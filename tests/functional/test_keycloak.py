"""Every python-keycloak call the platform makes, over real HTTP, against loopback stand-ins.

A Keycloak server cannot be installed here. The OpenID side is panva's `oidc-provider`
(OpenID-certified, from npm) serving Keycloak's paths under /realms/<realm> and issuing
client-credentials JWTs with Keycloak's claims; the Admin REST side (agency provisioning) is the
same stand-in's, tested in tests/functional/test_openid_stand_in.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
import pytest
from keycloak import KeycloakOpenID

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.errors import AuthenticationError
from gateway.identity.factory import build_verifier
from gateway.identity.keycloak import introspect, openid_client, realm_keys
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import AuthMode, Env, Settings
from tests import openid
from tests.net import answer_key

ROOT = Path(__file__).resolve().parents[2]
REALM, AUDIENCE = openid.REALM, openid.AUDIENCE
CLIENTS = [
    {"client_id": "motcua-danang", "client_secret": "s3cret-motcua", "roles": ["agency"]},
    {"client_id": "steward-console", "client_secret": "s3cret-steward", "roles": ["steward"]},
    {"client_id": AUDIENCE, "client_secret": "s3cret-gateway", "roles": []},
    {
        "client_id": "legacy-app",
        "client_secret": "s3cret-legacy",
        "roles": ["agency"],
        "opaque": True,
    },
]


@pytest.fixture(scope="module")
def oidc_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with openid.openid_stand_in(CLIENTS, tmp_path_factory.mktemp("oidc")) as url:
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture
def settings(oidc_url: str) -> Settings:
    return Settings(
        auth_mode=AuthMode.KEYCLOAK,
        keycloak_url=oidc_url,
        keycloak_realm=REALM,
        keycloak_audience=AUDIENCE,
        database_url="postgresql://x@127.0.0.1:1/x",
    )


def _agency_client(settings: Settings) -> KeycloakOpenID:
    return openid_client(settings, client_id="motcua-danang", secret="s3cret-motcua")


def test_well_known_and_certs(settings: Settings) -> None:
    client = openid_client(settings)
    discovery = client.well_known()
    assert discovery["issuer"] == settings.token_issuer
    assert discovery["jwks_uri"].endswith(f"/realms/{REALM}/protocol/openid-connect/certs")
    certs = client.certs()
    assert [key["kid"] for key in certs["keys"]] == ["stand-in-1"]


async def test_async_well_known_and_certs(settings: Settings) -> None:
    client = openid_client(settings)
    assert (await client.a_well_known())["issuer"] == settings.token_issuer
    assert (await client.a_certs())["keys"][0]["kty"] == "RSA"


async def test_client_credentials_token_verifies_with_the_realm_keys(settings: Settings) -> None:
    answer = await _agency_client(settings).a_token(grant_type="client_credentials")
    access_token = answer["access_token"]
    verifier = await build_verifier(settings)
    assert verifier.issuer == settings.token_issuer  # taken from the discovery document
    principal = await verifier.verify(access_token)
    assert principal.agency == "motcua-danang"
    assert principal.roles == frozenset({"agency"})
    sync_answer = _agency_client(settings).token(grant_type="client_credentials")
    assert (await verifier.verify(sync_answer["access_token"])).agency == "motcua-danang"


async def test_decode_token_both_ways(settings: Settings) -> None:
    client = _agency_client(settings)
    token = client.token(grant_type="client_credentials")["access_token"]
    claims = client.decode_token(token)
    assert claims["azp"] == "motcua-danang"
    assert claims["realm_access"] == {"roles": ["agency"]}
    async_claims = await client.a_decode_token(token)
    assert async_claims["resource_access"][AUDIENCE] == {"roles": ["agency"]}


async def test_a_token_from_another_realm_key_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    forger = DevIssuer(
        Settings(
            home=tmp_path, public_url=settings.keycloak_url, database_url=settings.database_url
        )
    )
    verifier = TokenVerifier(
        issuer=settings.token_issuer, audience=AUDIENCE, keys=realm_keys(openid_client(settings))
    )
    with pytest.raises(AuthenticationError, match="does not publish"):
        await verifier.verify(forger.mint(agency="motcua-danang"))


async def test_introspection_for_opaque_tokens(settings: Settings) -> None:
    legacy = openid_client(settings, client_id="legacy-app", secret="s3cret-legacy")
    token = (await legacy.a_token(grant_type="client_credentials"))["access_token"]
    assert token.count(".") != 2  # opaque, not a JWT
    gateway = openid_client(settings, client_id=AUDIENCE, secret="s3cret-gateway")
    principal = await introspect(gateway, token, audience=AUDIENCE)
    assert principal.agency == "legacy-app"
    assert principal.roles == frozenset({"agency"})
    with pytest.raises(AuthenticationError, match="not active"):
        await introspect(gateway, "not-a-token-the-issuer-knows", audience=AUDIENCE)


async def test_an_unreachable_keycloak_is_reported(settings: Settings) -> None:
    dead = settings.model_copy(update={"keycloak_url": "http://127.0.0.1:1"})
    with pytest.raises(AuthenticationError, match="discovery document cannot be read"):
        await build_verifier(dead)


async def test_prod_gateway_runs_only_trusted_documents_for_agencies(
    oidc_url: str, database_url: str, tmp_path: Path
) -> None:
    """ENV=prod behind Keycloak: agencies run trusted documents only, stewards anything;
    no introspection, no GraphiQL."""
    prod = Settings(
        env=Env.PROD, auth_mode=AuthMode.KEYCLOAK, keycloak_url=oidc_url, keycloak_realm=REALM,
        keycloak_audience=AUDIENCE, database_url=database_url, home=tmp_path,
        answer_signing_key_file=answer_key(tmp_path),
    )  # fmt: skip
    agency = (await _agency_client(prod).a_token(grant_type="client_credentials"))["access_token"]
    steward_client = openid_client(prod, client_id="steward-console", secret="s3cret-steward")
    steward = (await steward_client.a_token(grant_type="client_credentials"))["access_token"]
    app = create_app(prod)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
    ):

        async def post(token: str, body: dict[str, Any]) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {token}", "X-Purpose": "CT01"}
            answer = await client.post("/graphql", json=body, headers=headers)
            return dict(answer.json())

        def codes(answer: dict[str, Any]) -> list[str]:
            return [e["extensions"]["code"] for e in answer.get("errors", [])]

        absent = {"id": "048085000123"}
        # prod discloses registry data only to a verified officer: this service account names
        # none (tests/functional/test_accountable.py covers assertions); the rest of this test
        # is about documents, so it goes on with officers not required
        nameless = await post(agency, {"operationName": "ResidentCT01", "variables": absent})
        assert codes(nameless) == ["OFFICER_REQUIRED"]
        assert nameless["data"] is None
        services = app.state.services
        services.settings = services.settings.model_copy(update={"officer_required": False})
        ad_hoc = await post(agency, {"query": '{ adminUnit(code: "48") { name } }'})
        assert codes(ad_hoc) == ["OPERATION_NOT_ALLOWED"]
        hashed = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        assert codes(await post(agency, {"extensions": hashed})) == ["PERSISTED_QUERY_NOT_FOUND"]
        by_id = await post(agency, {"operationName": "NoSuchDocument"})
        assert codes(by_id) == ["PERSISTED_QUERY_NOT_FOUND"]
        by_name = await post(agency, {"operationName": "ResidentCT01", "variables": absent})
        # the document ran: this agency has no agreement, so the absent resident is refused
        # exactly as a present one would be
        assert by_name["data"] == {"resident": None}
        assert codes(by_name) == ["FORBIDDEN"]
        text = (ROOT / "graphql" / "operations" / "ResidentCT01.graphql").read_text()
        by_text = await post(agency, {"query": text, "variables": absent})
        assert by_text == by_name
        by_hash = {
            "persistedQuery": {"version": 1, "sha256Hash": sha256(text.encode()).hexdigest()}
        }
        assert await post(agency, {"extensions": by_hash, "variables": absent}) == by_name
        steward_ad_hoc = await post(steward, {"query": '{ adminUnit(code: "48") { name } }'})
        assert steward_ad_hoc == {"data": {"adminUnit": {"name": "Thành phố Đà Nẵng"}}}
        introspection = await post(steward, {"query": "{ __schema { types { name } } }"})
        assert introspection["data"] is None
        # no GraphiQL in prod: a browser is told the answer is JSON only
        assert (await client.get("/graphql", headers={"Accept": "text/html"})).status_code == 406
        assert (await client.get("/graphiql")).status_code == 404
