"""Agency provisioning against the OpenID stand-in's Admin REST API (tests/oidc/server.mjs,
tests/openid.py), through python-keycloak's real KeycloakAdmin as the gateway builds it
(`gateway.identity.provisioning.keycloak_provisioner`): the client it creates really gets
tokens, is refused them once disabled and gets them again once enabled; the Admin REST API
answers as Keycloak does (401, 403, 404, 409, `Location`); and, through the gateway's own admin
API in prod, registering, suspending and reactivating an agency does the same.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakAuthenticationError, KeycloakGetError, KeycloakPostError
from pydantic import SecretStr

from gateway.app import create_app
from gateway.identity.factory import build_verifier
from gateway.identity.keycloak import openid_client
from gateway.identity.provisioning import agency_client_payload, keycloak_provisioner
from lienthong.settings import AuthMode, Env, Settings
from tests import openid
from tests.net import answer_key

REALM, AUDIENCE, PROVISIONER = openid.REALM, openid.AUDIENCE, openid.PROVISIONER
SECRETS = {
    PROVISIONER: "s3cret-provisioner",
    "realm-operator": "s3cret-operator",
    "motcua-danang": "s3cret-motcua",
    "platform-admin-an": "s3cret-an",
    "platform-admin-binh": "s3cret-binh",
    "clients-only": "s3cret-clients-only",
}
CLIENTS = [
    openid.provisioner_client(SECRETS[PROVISIONER]),
    # a provisioning client set up with too little: it can make clients, not map their roles
    openid.provisioner_client(
        SECRETS["clients-only"], client_id="clients-only", roles=("manage-clients",)
    ),
    {  # a person at the platform's operations, who maps roles in Keycloak's console
        "client_id": "realm-operator",
        "client_secret": SECRETS["realm-operator"],
        "realm_management": ["realm-admin"],
    },
    {"client_id": "motcua-danang", "client_secret": SECRETS["motcua-danang"], "roles": ["agency"]},
    *(
        {"client_id": name, "client_secret": SECRETS[name], "roles": ["admin"]}
        for name in ("platform-admin-an", "platform-admin-binh")
    ),
]


@pytest.fixture(scope="module")
def oidc_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with openid.openid_stand_in(CLIENTS, tmp_path_factory.mktemp("oidc")) as url:
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture
def keycloak(oidc_url: str) -> Settings:
    """The gateway's settings in Keycloak mode, provisioning as the stand-in's provisioner."""
    return Settings(
        auth_mode=AuthMode.KEYCLOAK,
        keycloak_url=oidc_url,
        keycloak_realm=REALM,
        keycloak_audience=AUDIENCE,
        keycloak_admin_client_secret=SecretStr(SECRETS[PROVISIONER]),
        database_url="postgresql://x@127.0.0.1:1/x",
    )


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _token(url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{url}/realms/{REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _admin_token(url: str, client_id: str = PROVISIONER) -> str:
    return openid.client_credentials(url, client_id, SECRETS[client_id])


async def test_a_provisioned_client_gets_tokens_refused_when_disabled_and_again_when_enabled(
    oidc_url: str, keycloak: Settings
) -> None:
    provisioner = keycloak_provisioner(keycloak)
    internal = await provisioner.create_agency_client(client_id="bhxh-danang", name="BHXH Đà Nẵng")
    again = await provisioner.create_agency_client(client_id="bhxh-danang", name="BHXH Đà Nẵng")
    assert again == internal  # skip_exists: the existing client is found, none is created

    # Keycloak's ClientRepresentation: what provisioning sent, an id, a generated secret
    created = await provisioner.admin.a_get_client(internal)
    sent = agency_client_payload(client_id="bhxh-danang", name="BHXH Đà Nẵng", audience=AUDIENCE)
    assert created["id"] == internal
    assert {name: created[name] for name in sent if name != "protocolMappers"} == {
        name: value for name, value in sent.items() if name != "protocolMappers"
    }
    assert [(m["protocolMapper"], m["config"]) for m in created["protocolMappers"]] == [
        (m["protocolMapper"], m["config"]) for m in sent["protocolMappers"]
    ]
    secret = openid.client_secret(oidc_url, _admin_token(oidc_url), "bhxh-danang")
    assert len(secret) == 32 and created["secret"] == secret
    assert await provisioner.admin.a_get_client_secrets(internal) == {
        "type": "secret",
        "value": secret,
    }

    # its tokens are the other clients' shape, for the audience its mapper names
    token = openid.client_credentials(oidc_url, "bhxh-danang", secret)
    claims = _claims(token)
    assert (claims["azp"], claims["aud"]) == ("bhxh-danang", AUDIENCE)
    assert claims["realm_access"] == {"roles": ["agency"]}  # provisioning mapped it
    verifier = await build_verifier(keycloak)
    principal = await verifier.verify(token)
    assert principal.agency == "bhxh-danang"
    assert principal.is_agency

    await provisioner.set_agency_enabled(client_id="bhxh-danang", enabled=False)
    assert (await provisioner.admin.a_get_client(internal))["enabled"] is False
    refused = _token(oidc_url, "bhxh-danang", secret)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    agency = openid_client(keycloak, client_id="bhxh-danang", secret=secret)
    with pytest.raises(KeycloakAuthenticationError):
        await agency.a_token(grant_type="client_credentials")

    await provisioner.set_agency_enabled(client_id="bhxh-danang", enabled=True)
    answer = await agency.a_token(grant_type="client_credentials")
    assert (await verifier.verify(answer["access_token"])).agency == "bhxh-danang"


async def test_the_agency_role_is_mapped_to_the_service_account_by_a_user_manager(
    oidc_url: str, keycloak: Settings
) -> None:
    """A client created through the Admin REST API starts without the realm role `agency`, as in
    Keycloak; provisioning maps it to the client's service account (roles manage-users and
    view-realm), so the client's tokens carry it. A provisioning client with manage-clients
    alone is refused the mapping: registering fails (503 at the admin API) and a retry with the
    right roles finds the client made and completes it."""
    short = keycloak.model_copy(
        update={
            "keycloak_admin_client_id": "clients-only",
            "keycloak_admin_client_secret": SecretStr(SECRETS["clients-only"]),
        }
    )
    with pytest.raises(KeycloakGetError) as refused:
        await keycloak_provisioner(short).create_agency_client(client_id="thue-hue", name="Huế")
    assert refused.value.response_code == 403
    operator = KeycloakAdmin(
        server_url=oidc_url + "/",
        realm_name=REALM,
        client_id="realm-operator",
        client_secret_key=SECRETS["realm-operator"],
        timeout=5,
    )
    internal = await operator.a_get_client_id("thue-hue")
    account = await operator.a_get_client_service_account_user(internal)
    assert account["username"] == "service-account-thue-hue"
    assert await operator.a_get_realm_roles_of_user(account["id"]) == []

    again = await keycloak_provisioner(keycloak).create_agency_client(
        client_id="thue-hue", name="Thuế Huế"
    )
    assert again == internal
    mapped = await operator.a_get_realm_roles_of_user(account["id"])
    assert [r["name"] for r in mapped] == ["agency"]
    secret = openid.client_secret(oidc_url, _admin_token(oidc_url), "thue-hue")
    token = openid.client_credentials(oidc_url, "thue-hue", secret)
    assert _claims(token)["realm_access"] == {"roles": ["agency"]}
    principal = await (await build_verifier(keycloak)).verify(token)
    assert principal.is_agency
    assert principal.roles == frozenset({"agency"})


async def test_configured_clients_are_the_realms_too(oidc_url: str, keycloak: Settings) -> None:
    """The clients the stand-in starts with are in the Admin REST API: provisioning an agency
    whose client the operator already made finds it, and suspending it disables it."""
    provisioner = keycloak_provisioner(keycloak)
    existing = await provisioner.admin.a_get_client_id("motcua-danang")
    assert existing is not None
    found = await provisioner.create_agency_client(client_id="motcua-danang", name="Một cửa")
    assert found == existing
    assert (
        openid.client_secret(oidc_url, _admin_token(oidc_url), "motcua-danang")
        == (SECRETS["motcua-danang"])
    )
    await provisioner.set_agency_enabled(client_id="motcua-danang", enabled=False)
    try:
        assert _token(oidc_url, "motcua-danang", SECRETS["motcua-danang"]).status_code == 401
    finally:
        await provisioner.set_agency_enabled(client_id="motcua-danang", enabled=True)
    token = openid.client_credentials(oidc_url, "motcua-danang", SECRETS["motcua-danang"])
    assert _claims(token)["realm_access"] == {"roles": ["agency"]}
    with pytest.raises(LookupError, match="no Keycloak client 'nobody'"):
        await provisioner.set_agency_enabled(client_id="nobody", enabled=False)


def test_the_admin_api_answers_as_keycloak_does(oidc_url: str) -> None:
    clients = f"{openid.admin_url(oidc_url)}/clients"
    anonymous = httpx.get(clients, timeout=10)
    assert (anonymous.status_code, anonymous.json()) == (401, {"error": "HTTP 401 Unauthorized"})
    assert httpx.get(clients, headers=_bearer("not-a-token"), timeout=10).status_code == 401

    # an agency's token opens nothing; its roles cannot be forged into the token
    agency = openid.client_credentials(oidc_url, "motcua-danang", SECRETS["motcua-danang"])
    refused = httpx.get(clients, headers=_bearer(agency), timeout=10)
    assert (refused.status_code, refused.json()) == (403, {"error": "unknown_error"})
    header, _, signature = agency.split(".")
    claims = _claims(agency)
    claims["resource_access"]["realm-management"] = {"roles": ["realm-admin"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = httpx.get(clients, headers=_bearer(f"{header}.{forged}.{signature}"), timeout=10)
    assert tampered.status_code == 401

    admin = _admin_token(oidc_url)
    nowhere = f"{clients}/00000000-0000-4000-8000-000000000000"
    unknown = httpx.get(nowhere, headers=_bearer(admin), timeout=10)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Could not find client"})

    # a create answers 201 with the new client's URL; the same clientId again, 409
    body = {"clientId": "nganhang-xyz", "serviceAccountsEnabled": True}
    created = httpx.post(clients, json=body, headers=_bearer(admin), timeout=10)
    assert (created.status_code, created.content) == (201, b"")
    internal = openid.client_id_of(oidc_url, admin, "nganhang-xyz")
    assert created.headers["Location"] == f"{clients}/{internal}"
    again = httpx.post(clients, json=body, headers=_bearer(admin), timeout=10)
    assert (again.status_code, again.json()) == (
        409,
        {"errorMessage": "Client nganhang-xyz already exists"},
    )
    listed = httpx.get(clients, params={"clientId": "nganhang-xyz"}, headers=_bearer(admin))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [internal]
    secret = openid.client_secret(oidc_url, admin, "nganhang-xyz")
    clients_only = _admin_token(oidc_url, "clients-only")
    with pytest.raises(httpx.HTTPStatusError) as unmapped:  # manage-clients maps no roles
        openid.grant_realm_role(oidc_url, clients_only, "nganhang-xyz", "agency")
    assert unmapped.value.response.status_code == 403
    operator = _admin_token(oidc_url, "realm-operator")
    openid.grant_realm_role(oidc_url, operator, "nganhang-xyz", "agency")
    token = openid.client_credentials(oidc_url, "nganhang-xyz", secret)
    assert _claims(token)["realm_access"] == {"roles": ["agency"]}
    with pytest.raises(httpx.HTTPStatusError) as no_role:
        openid.grant_realm_role(oidc_url, operator, "nganhang-xyz", "no-such-role")
    assert (no_role.value.response.status_code, no_role.value.response.json()) == (
        404,
        {"error": "Could not find role"},
    )


async def test_python_keycloak_reads_keycloaks_refusals(keycloak: Settings) -> None:
    provisioner = keycloak_provisioner(keycloak)
    await provisioner.create_agency_client(client_id="nganhang-abc", name="Ngân hàng ABC")
    with pytest.raises(KeycloakPostError) as duplicate:  # without skip_exists
        await provisioner.admin.a_create_client({"clientId": "nganhang-abc"})
    assert duplicate.value.response_code == 409
    assert json.loads(duplicate.value.response_body or b"") == {
        "errorMessage": "Client nganhang-abc already exists"
    }
    with pytest.raises(KeycloakGetError) as unknown:
        await provisioner.admin.a_get_client("00000000-0000-4000-8000-000000000000")
    assert unknown.value.response_code == 404

    # a provisioner with a wrong secret gets no token, so provisions nothing
    wrong = keycloak.model_copy(update={"keycloak_admin_client_secret": SecretStr("wrong")})
    with pytest.raises(KeycloakAuthenticationError):
        await keycloak_provisioner(wrong).create_agency_client(client_id="x-y", name="X")
    assert await provisioner.admin.a_get_client_id("x-y") is None


async def test_the_gateway_registers_suspends_and_reactivates_an_agencys_client(
    oidc_url: str, committed_database_url: str, tmp_path: Path
) -> None:
    """ENV=prod behind the stand-in, provisioning configured: the administrator registers an
    agency through the gateway's admin API, the operator reads its secret and hands it over,
    the agency's token is accepted by the gateway; suspension disables the client in Keycloak,
    reactivation (by another administrator) enables it."""
    prod = Settings(
        env=Env.PROD, auth_mode=AuthMode.KEYCLOAK, keycloak_url=oidc_url, keycloak_realm=REALM,
        keycloak_audience=AUDIENCE, keycloak_admin_client_secret=SecretStr(SECRETS[PROVISIONER]),
        database_url=committed_database_url, home=tmp_path,
        answer_signing_key_file=answer_key(tmp_path),
    )  # fmt: skip
    an, binh = (
        _admin_token(oidc_url, name) for name in ("platform-admin-an", "platform-admin-binh")
    )
    app = create_app(prod)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as gateway,
    ):
        new = {"client_id": "xaydung-hue", "name": "Sở Xây dựng Huế", "kind": "construction",
               "province": "46"}  # fmt: skip
        registered = await gateway.post("/admin/agencies", json=new, headers=_bearer(an))
        assert registered.status_code == 201, registered.text

        secret = openid.client_secret(oidc_url, _admin_token(oidc_url), "xaydung-hue")
        token = openid.client_credentials(oidc_url, "xaydung-hue", secret)
        headers = {**_bearer(token), "X-Purpose": "CT01"}
        body = {"operationName": "ResidentCT01", "variables": {"id": "048085000123"}}
        answer = (await gateway.post("/graphql", json=body, headers=headers)).json()
        # authenticated: prod then asks for a verified officer before any registry data
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["OFFICER_REQUIRED"]

        suspend = {**_bearer(an), "If-Match": registered.headers["ETag"]}
        suspended = await gateway.post("/admin/agencies/xaydung-hue/suspend", headers=suspend)
        assert suspended.status_code == 200, suspended.text
        assert _token(oidc_url, "xaydung-hue", secret).status_code == 401

        reactivate = {**_bearer(binh), "If-Match": suspended.headers["ETag"]}
        reactivated = await gateway.post(
            "/admin/agencies/xaydung-hue/reactivate", headers=reactivate
        )
        assert reactivated.status_code == 200, reactivated.text
        assert _token(oidc_url, "xaydung-hue", secret).status_code == 200
