"""The OpenID stand-in for Keycloak (tests/oidc: panva's oidc-provider, installed by `make
install`) on a loopback port, for tests that run the gateway in prod (Keycloak mode).

It serves Keycloak's paths under /realms/<realm> and issues JWTs with Keycloak's claims (`azp`,
`realm_access.roles`, `resource_access`, and a user's mapped attributes such as `citizen_id`):
to clients by the client-credentials grant, and to the users it is given, signed in on
oidc-provider's own login page, by the authorization-code flow with PKCE. `authorization_code`
drives that flow as a browser would (tests; a console's login is the same flow).
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
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.net import free_port

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
REALM = "lienthong"
AUDIENCE = "lienthong-gateway"


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
    /realms/lienthong).

    A client is `client_id`, `client_secret`, `roles` (its service account's, for client
    credentials), `opaque` (opaque access tokens), and for users' logins `redirect_uris` and
    `public` (no secret). A user is `username`, `password`, `roles` (realm roles), `claims`
    (added to their access tokens, e.g. `{"citizen_id": "048085000123"}`), optionally `name` and
    `sub` (default: a UUID derived from the username)."""
    node = shutil.which("node")
    if node is None or not installed():
        raise StandInMissing("Node and tests/oidc/node_modules are installed by `make install`")
    clients_file = workdir / "oidc-clients.json"
    clients_file.write_text(json.dumps(list(clients)), encoding="utf-8")
    users_file = workdir / "oidc-users.json"
    users_file.write_text(json.dumps(list(users)), encoding="utf-8")
    port = free_port()
    log = workdir / "oidc.log"  # a file, not a pipe: nothing blocks on what it prints
    with log.open("wb") as output:
        process = subprocess.Popen(
            [node, "server.mjs", str(port), REALM, AUDIENCE, str(clients_file), str(users_file)],
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
    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        answer = browser.get(
            f"{realm}/auth",
            params={
                "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                "scope": scope, "state": state, "code_challenge_method": "S256",
                "code_challenge": challenge.rstrip(b"=").decode(),
            },
        )  # fmt: skip
        posted = False
        for _ in range(10):
            if answer.is_redirect:
                target = urljoin(str(answer.url), answer.headers["location"])
                if target.startswith(redirect_uri):
                    break
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
        else:
            raise LoginRefused("the flow did not reach the redirect URI")
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
