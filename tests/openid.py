"""The OpenID stand-in for Keycloak (tests/oidc: panva's oidc-provider, installed by `make
install`) on a loopback port, for tests that run the gateway in prod (Keycloak mode).

It serves Keycloak's paths under /realms/<realm> and issues JWTs with Keycloak's claims (`azp`,
`realm_access.roles`, `resource_access`, and a user's mapped attributes such as `citizen_id`):
to clients by the client-credentials grant, and to the users it is given, signed in on
oidc-provider's own login page, by the authorization-code flow with PKCE. `authorization_code`
drives that flow as a browser would (tests; a console's login is the same flow).

It also serves the part of Keycloak's Admin REST API that agency provisioning uses
(gateway/identity/provisioning.py) under /admin/realms/<realm>: clients listed, created (201 and
a `Location`; 409 when the clientId exists), read, updated (`enabled`), deleted, their secrets,
their service accounts and the realm role mappings, for the bearer token of a client given
`realm_management` roles (`provisioner_client` makes the one the gateway's settings name). A
client created there really works: it gets client-credentials tokens with its secret
(`client_secret` reads it as an operator would), with the audience its protocol mapper names and
the realm roles mapped to its service account (none at first, as in Keycloak: see
`grant_realm_role`); a disabled client is refused them (401 `invalid_client`). The protocol,
shapes and codes are Keycloak's; tests/oidc/server.mjs lists them.

    with openid_stand_in([provisioner_client("s3cret")], tmp_path) as url:
        settings = Settings(auth_mode=AuthMode.KEYCLOAK, keycloak_url=url,
                            keycloak_admin_client_secret=SecretStr("s3cret"), ...)
        await keycloak_provisioner(settings).create_agency_client(client_id="x", name="X")
        admin = client_credentials(url, PROVISIONER, "s3cret")
        token = client_credentials(url, "x", client_secret(url, admin, "x"))
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from tests.net import free_port

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
REALM_EXPORT = Path(__file__).resolve().parents[1] / "infra" / "keycloak" / "realm-lienthong.json"
REALM = "lienthong"
AUDIENCE = "lienthong-gateway"
PROVISIONER = "lienthong-provisioner"  # LIENTHONG_KEYCLOAK_ADMIN_CLIENT_ID's default


class StandInMissing(RuntimeError):  # noqa: N818 - what is wrong, said plainly
    """Node or tests/oidc/node_modules is not installed."""


def installed() -> bool:
    """Whether Node and the stand-in's npm packages are there."""
    node_modules = OIDC_DIR / "node_modules" / "oidc-provider"
    return shutil.which("node") is not None and node_modules.exists()


class LoginRefused(RuntimeError):  # noqa: N818 - what happened, said plainly
    """The authorization ended in an error at the redirect URI (e.g. `access_denied` for a wrong
    username or password), or the flow did not reach it."""


@contextmanager
def openid_stand_in(
    clients: Sequence[dict[str, Any]],
    workdir: Path,
    *,
    users: Sequence[dict[str, Any]] = (),
    timeout: float = 30.0,
) -> Iterator[str]:
    """The stand-in serving `clients` and `users`; yields its base URL (the realm is under
    /realms/lienthong, its Admin REST API under /admin/realms/lienthong).

    A client is `client_id`, `client_secret`, `roles` (its service account's realm roles, for
    client credentials), `opaque` (opaque access tokens), `realm_management` (its roles on
    Keycloak's `realm-management` client, which open the Admin REST API: `manage-clients` to
    provision agencies, `manage-users` to map roles, `view-realm` to read them, `realm-admin` for
    all), and for users' logins `redirect_uris` and `public` (no secret). Every client's tokens
    carry the gateway audience (the realm export's `gateway-audience` mapper). A user is
    `username`, `password`, `roles` (realm roles), `claims` (added to their access tokens, e.g.
    `{"citizen_id": "048085000123"}`), optionally `name` and `sub` (default: a UUID derived from
    the username). The realm's roles are the realm export's (infra/keycloak/realm-lienthong.json)
    and those the clients and users hold."""
    node = shutil.which("node")
    if node is None or not installed():
        raise StandInMissing("Node and tests/oidc/node_modules are installed by `make install`")
    clients_file = workdir / "oidc-clients.json"
    clients_file.write_text(json.dumps(list(clients)), encoding="utf-8")
    users_file = workdir / "oidc-users.json"
    users_file.write_text(json.dumps(list(users)), encoding="utf-8")
    realm_file = workdir / "oidc-realm.json"
    realm_file.write_text(json.dumps({"roles": realm_roles()}), encoding="utf-8")
    port = free_port()
    log = workdir / "oidc.log"  # a file, not a pipe: nothing blocks on what it prints
    with log.open("wb") as output:
        process = subprocess.Popen(
            [node, "server.mjs", str(port), REALM, AUDIENCE, str(clients_file), str(users_file),
             str(realm_file)],
            cwd=OIDC_DIR, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                discovery = f"{url}/realms/{REALM}/.well-known/openid-configuration"
                if httpx.get(discovery, timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=10)
                said = log.read_text(encoding="utf-8", errors="replace")
                raise StandInMissing(f"oidc-provider did not start: {said}")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def realm_roles() -> list[dict[str, str]]:
    """The realm's roles as the realm export declares them: `name` and `description`."""
    export = json.loads(REALM_EXPORT.read_text(encoding="utf-8"))
    return [
        {"name": role["name"], "description": role.get("description", "")}
        for role in export["roles"]["realm"]
    ]


# What the gateway's provisioning client needs on Keycloak's `realm-management` client: create,
# read, enable and disable clients, and give a new client's service account the role `agency`
PROVISIONER_ROLES = ("manage-clients", "manage-users", "view-realm")


def provisioner_client(
    secret: str, *, client_id: str = PROVISIONER, roles: Sequence[str] = PROVISIONER_ROLES
) -> dict[str, Any]:
    """The stand-in client the gateway provisions agencies as (LIENTHONG_KEYCLOAK_ADMIN_CLIENT_ID
    and _SECRET): a confidential client whose service account holds `roles` on Keycloak's
    `realm-management` client."""
    return {"client_id": client_id, "client_secret": secret, "realm_management": list(roles)}


def admin_url(url: str) -> str:
    """The realm's Admin REST API (Keycloak's /admin/realms/<realm>)."""
    return f"{url}/admin/realms/{REALM}"


def client_id_of(url: str, admin_token: str, client_id: str) -> str:
    """Keycloak's internal id (a UUID) of the client named `client_id`; LookupError if there is
    none. `admin_token`: an access token of a client with `view-clients` (or `manage-clients`)."""
    answer = httpx.get(
        f"{admin_url(url)}/clients",
        params={"clientId": client_id},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    answer.raise_for_status()
    for found in answer.json():
        if found["clientId"] == client_id:
            return str(found["id"])
    raise LookupError(f"no client {client_id!r} in the realm")


def client_secret(url: str, admin_token: str, client_id: str) -> str:
    """The secret of the client named `client_id`, read as an operator reads it to hand it to the
    agency (`GET …/clients/<id>/client-secret`, `{"type": "secret", "value": …}`)."""
    internal = client_id_of(url, admin_token, client_id)
    answer = httpx.get(
        f"{admin_url(url)}/clients/{internal}/client-secret",
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["value"])


def grant_realm_role(url: str, admin_token: str, client_id: str, role: str) -> None:
    """Maps the realm role `role` to the service account of the client named `client_id`, as an
    operator does in Keycloak for a client created through the Admin REST API (it starts with
    the realm's default roles only); its next tokens carry the role. `admin_token`: a client's
    with `view-clients`, `view-realm` and `manage-users` (or `realm-admin`)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    base = admin_url(url)
    internal = client_id_of(url, admin_token, client_id)
    account = httpx.get(f"{base}/clients/{internal}/service-account-user", headers=headers,
                        timeout=10)  # fmt: skip
    account.raise_for_status()
    found = httpx.get(f"{base}/roles/{role}", headers=headers, timeout=10)
    found.raise_for_status()
    mapped = httpx.post(
        f"{base}/users/{account.json()['id']}/role-mappings/realm",
        json=[found.json()],
        headers=headers,
        timeout=10,
    )
    mapped.raise_for_status()


def client_credentials(url: str, client_id: str, secret: str) -> str:
    """An access token for a client, by the client-credentials grant (as agency software gets
    one from Keycloak)."""
    answer = httpx.post(
        f"{url}/realms/{REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


class _LoginForm(HTMLParser):
    """The first form of a page: its action and its inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.inputs: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = attributes.get("action", ""), True
        elif tag == "input" and self._in_form and attributes.get("name"):
            self.inputs[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def login(authorization_url: str, *, username: str, password: str, redirect_uri: str) -> str:
    """Where the provider sends the browser back (`redirect_uri` with `code` and `state`, or an
    `error`) once `username` signs in on its login page, driven from `authorization_url` as a
    browser drives it: redirects followed on the provider, the login form posted. For a client
    of the gateway's own (the console) that built the authorization URL itself."""
    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        answer = browser.get(authorization_url)
        posted = False
        for _ in range(10):
            if answer.is_redirect:
                target = urljoin(str(answer.url), answer.headers["location"])
                if target.startswith(redirect_uri):
                    return target
                answer = browser.get(target)
            elif answer.status_code == 200 and not posted:  # the login page
                form = _LoginForm()
                form.feed(answer.text)
                if form.action is None or "password" not in form.inputs:
                    raise LoginRefused(f"no login form at {answer.url}: {answer.text[:500]}")
                fields = {**form.inputs, "login": username, "password": password}
                answer = browser.post(urljoin(str(answer.url), form.action), data=fields)
                posted = True
            else:
                raise LoginRefused(f"{answer.status_code} at {answer.url}: {answer.text[:500]}")
    raise LoginRefused("the flow did not reach the redirect URI")


def authorization_code(
    url: str,
    client_id: str,
    *,
    username: str,
    password: str,
    redirect_uri: str,
    secret: str | None = None,
    scope: str = "openid profile",
) -> str:
    """A user's access token by the authorization-code flow with PKCE (RFC 7636, S256), driven
    as a browser drives it: the authorization request, the login form posted, the redirects
    followed to `redirect_uri`, and the code exchanged with the verifier (and the client's
    secret, for a confidential client)."""
    realm = f"{url}/realms/{REALM}/protocol/openid-connect"
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(16)
    query_string = urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": scope, "state": state, "code_challenge_method": "S256",
        "code_challenge": challenge.rstrip(b"=").decode(),
    })  # fmt: skip
    target = login(
        f"{realm}/auth?{query_string}",
        username=username,
        password=password,
        redirect_uri=redirect_uri,
    )
    query = parse_qs(urlsplit(target).query)
    if "error" in query:
        raise LoginRefused(f"{query['error'][0]}: {query.get('error_description', [''])[0]}")
    if query.get("state") != [state]:
        raise LoginRefused("the redirect carried another state")
    data = {
        "grant_type": "authorization_code", "code": query["code"][0],
        "redirect_uri": redirect_uri, "code_verifier": verifier,
    }  # fmt: skip
    if secret is None:
        token = httpx.post(f"{realm}/token", data={**data, "client_id": client_id}, timeout=10)
    else:
        token = httpx.post(f"{realm}/token", data=data, auth=(client_id, secret), timeout=10)
    token.raise_for_status()
    return str(token.json()["access_token"])
