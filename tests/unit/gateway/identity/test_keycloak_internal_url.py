"""Keycloak reached by an internal URL (a container or pod network) while tokens carry the public
issuer: the gateway fetches the realm's discovery document and keys inside, and accepts only the
public `iss`.

A loopback server plays Keycloak behind its internal name, publishing the public issuer the way a
Keycloak with its hostname set does; the public URL itself resolves nowhere (`.invalid`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.errors import AuthenticationError
from gateway.identity.factory import build_verifier
from gateway.identity.provisioning import keycloak_provisioner
from lienthong.settings import AuthMode, Settings

PUBLIC = "https://id.lienthong.invalid"
REALM = "lienthong"


@pytest.fixture
def realm_issuer(tmp_path: Path) -> DevIssuer:
    """A key pair minting tokens with the public issuer, as Keycloak would."""
    return DevIssuer(Settings(auth_mode=AuthMode.KEYCLOAK, keycloak_url=PUBLIC, home=tmp_path))


@pytest.fixture
def internal_keycloak(realm_issuer: DevIssuer) -> Iterator[tuple[str, list[str]]]:
    """(the internal URL, the paths asked of it)."""
    asked: list[str] = []
    documents = {  # read on each request: a test may change what the issuer publishes
        f"/realms/{REALM}/.well-known/openid-configuration": realm_issuer.discovery,
        f"/realms/{REALM}/protocol/openid-connect/certs": realm_issuer.jwks,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            published = documents.get(self.path)
            document = published() if published is not None else None
            payload = json.dumps(document).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def _settings(internal: str, home: Path) -> Settings:
    return Settings(
        auth_mode=AuthMode.KEYCLOAK, keycloak_url=PUBLIC, keycloak_internal_url=internal,
        keycloak_realm=REALM, home=home, database_url="postgresql://x@127.0.0.1:1/x",
    )  # fmt: skip


async def test_keys_come_from_the_internal_url_and_iss_is_the_public_issuer(
    internal_keycloak: tuple[str, list[str]], realm_issuer: DevIssuer, tmp_path: Path
) -> None:
    internal, asked = internal_keycloak
    settings = _settings(internal, tmp_path)
    assert settings.keycloak_server_url == internal
    assert settings.token_issuer == f"{PUBLIC}/realms/{REALM}"

    verifier = await build_verifier(settings)
    assert verifier.issuer == f"{PUBLIC}/realms/{REALM}"
    principal = await verifier.verify(realm_issuer.mint(agency="motcua-danang"))
    assert principal.agency == "motcua-danang"
    assert asked == [
        f"/realms/{REALM}/.well-known/openid-configuration",
        f"/realms/{REALM}/protocol/openid-connect/certs",
    ]

    # a token naming the internal URL as its issuer is someone else's, even signed by the realm
    inside = realm_issuer.mint(
        agency="motcua-danang", extra_claims={"iss": f"{internal}/realms/{REALM}"}
    )
    with pytest.raises(AuthenticationError, match="another issuer"):
        await verifier.verify(inside)


async def test_a_discovery_document_naming_the_internal_host_does_not_change_the_issuer(
    internal_keycloak: tuple[str, list[str]], realm_issuer: DevIssuer, tmp_path: Path
) -> None:
    """A Keycloak without its hostname set answers with the host it was asked by: the gateway
    still expects the public issuer, which the clients' tokens carry."""
    internal, _ = internal_keycloak
    realm_issuer.issuer = f"{internal}/realms/{REALM}"  # what discovery will now say
    verifier = await build_verifier(_settings(internal, tmp_path))
    assert verifier.issuer == f"{PUBLIC}/realms/{REALM}"


async def test_without_an_internal_url_the_public_url_is_fetched(tmp_path: Path) -> None:
    settings = Settings(
        auth_mode=AuthMode.KEYCLOAK, keycloak_url="http://127.0.0.1:1", home=tmp_path,
        database_url="postgresql://x@127.0.0.1:1/x",
    )  # fmt: skip
    assert settings.keycloak_server_url == "http://127.0.0.1:1"
    with pytest.raises(AuthenticationError, match=r"cannot be read at http://127\.0\.0\.1:1"):
        await build_verifier(settings)


def test_provisioning_reaches_keycloak_by_the_internal_url(tmp_path: Path) -> None:
    """Registering an agency creates its Keycloak client through the Admin REST API: inside the
    deployment's network too (nothing is called here: the client is only built)."""
    settings = Settings(
        auth_mode=AuthMode.KEYCLOAK,
        keycloak_url=PUBLIC,
        keycloak_internal_url="http://keycloak:8080",
        keycloak_admin_client_secret="s3cret",
        home=tmp_path,
    )
    assert keycloak_provisioner(settings).admin.connection.server_url == "http://keycloak:8080/"
