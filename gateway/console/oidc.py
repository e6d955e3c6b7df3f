"""Signing people in: OpenID Connect's authorization-code flow with PKCE (S256) against the
configured provider — Keycloak in prod, the OIDC stand-in (tests/oidc) in dev and tests.

The browser is sent to the realm's authorization endpoint with `state`, `nonce` and a code
challenge; the callback exchanges the code (with the verifier, and the client's secret when it is
a confidential client) at the token endpoint, server to server. The access token is verified as
the gateway verifies every token (gateway/identity/verifier.py: signature against the realm's
keys, issuer, the gateway's audience, expiry) and gives the caller; the ID token is verified by
the same rules with the client as its audience, and must carry the nonce and the same `sub`.

Endpoints are Keycloak's paths under the realm URL, which the stand-in serves too: the browser
reaches the public URL (the tokens' issuer), the gateway the internal one when set.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from gateway.identity.errors import AuthenticationError
from gateway.identity.jwks import RemoteKeys
from gateway.identity.principal import Principal
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import Settings

TIMEOUT_SECONDS = 10.0
SCOPE = "openid profile"


class SignInFailed(RuntimeError):  # noqa: N818 - what happened, said plainly
    """The provider refused, or what it answered does not verify."""


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None  # None: a public client (PKCE alone)


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    name: str  # what the page shows: the ID token's name, else the username


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OpenIdProvider:
    def __init__(self, settings: Settings) -> None:
        public = (settings.console_oidc_url or settings.keycloak_url).rstrip("/")
        server = (settings.console_oidc_url or settings.keycloak_server_url).rstrip("/")
        realm = settings.keycloak_realm
        self.configured = bool(public)
        self.issuer = f"{public}/realms/{realm}"
        self.authorization_endpoint = f"{self.issuer}/protocol/openid-connect/auth"
        endpoints = f"{server}/realms/{realm}/protocol/openid-connect"
        self.token_endpoint = f"{endpoints}/token"
        self._certs = f"{endpoints}/certs"
        keys = RemoteKeys(self._fetch_keys)
        self.access_tokens = TokenVerifier(
            issuer=self.issuer, audience=settings.keycloak_audience, keys=keys
        )
        self._id_tokens: dict[str, TokenVerifier] = {}
        self._keys = keys

    async def _fetch_keys(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
            answer = await http.get(self._certs)
            answer.raise_for_status()
            document: dict[str, Any] = answer.json()
            return document

    def authorization_url(
        self, client: Client, *, redirect_uri: str, state: str, nonce: str, challenge: str
    ) -> str:
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.authorization_endpoint}?{urlencode(query)}"

    async def exchange(
        self, client: Client, *, code: str, redirect_uri: str, verifier: str, nonce: str
    ) -> SignedIn:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        # a confidential client authenticates (client_secret_basic); a public one names itself
        auth = httpx.BasicAuth(client.client_id, client.secret) if client.secret else None
        if auth is None:
            form["client_id"] = client.client_id
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
                answer = await http.post(
                    self.token_endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT
                )
        except httpx.HTTPError as error:
            raise SignInFailed("the sign-in server cannot be reached") from error
        if not answer.is_success:
            raise SignInFailed(f"the sign-in server refused the code ({answer.status_code})")
        tokens = answer.json()
        try:
            access = await self.access_tokens.claims(tokens.get("access_token"))
            principal = await self.access_tokens.verify(tokens.get("access_token"))
            identity = await self._id_verifier(client.client_id).claims(tokens.get("id_token"))
        except AuthenticationError as error:
            raise SignInFailed(str(error)) from error
        if identity.get("nonce") != nonce:
            raise SignInFailed("the ID token does not carry this sign-in's nonce")
        if identity.get("sub") != principal.subject:
            raise SignInFailed("the ID token and the access token name different people")
        # Keycloak (and the stand-in) put the profile in the access token; an ID token may not
        named = [c.get(k) for k in ("name", "preferred_username") for c in (identity, access)]
        name = next((n for n in named if isinstance(n, str) and n), principal.subject)
        return SignedIn(principal=principal, name=str(name))

    def _id_verifier(self, client_id: str) -> TokenVerifier:
        if client_id not in self._id_tokens:
            self._id_tokens[client_id] = TokenVerifier(
                issuer=self.issuer, audience=client_id, keys=self._keys
            )
        return self._id_tokens[client_id]
