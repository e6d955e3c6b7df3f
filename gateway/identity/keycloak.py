"""AUTH_MODE=keycloak: the realm's keys (and optional introspection) through python-keycloak."""

from __future__ import annotations

from typing import Any

from keycloak import KeycloakOpenID

from gateway.identity.errors import AuthenticationError
from gateway.identity.jwks import RemoteKeys
from gateway.identity.officers import officer_from_claims
from gateway.identity.principal import Principal, roles_from_claims
from lienthong.settings import Settings


def openid_client(
    settings: Settings, *, client_id: str | None = None, secret: str | None = None
) -> KeycloakOpenID:
    """The realm's OpenID endpoints at the URL the gateway reaches Keycloak by (the internal
    one when set: `Settings.keycloak_server_url`)."""
    if not settings.keycloak_url:
        raise AuthenticationError("LIENTHONG_KEYCLOAK_URL is not set")
    return KeycloakOpenID(
        server_url=settings.keycloak_server_url.rstrip("/") + "/",
        realm_name=settings.keycloak_realm,
        client_id=client_id or settings.keycloak_audience,
        client_secret_key=secret,
        timeout=5,
    )


def realm_keys(client: KeycloakOpenID, *, min_refresh_interval: float = 30.0) -> RemoteKeys:
    """The realm's signing keys (`…/protocol/openid-connect/certs`), cached."""

    async def fetch() -> dict[str, Any]:
        document: dict[str, Any] = await client.a_certs()
        return document

    return RemoteKeys(fetch, min_refresh_interval=min_refresh_interval)


async def introspect(client: KeycloakOpenID, token: str, *, audience: str) -> Principal:
    """For opaque tokens: ask Keycloak (RFC 7662). Needs a confidential gateway client."""
    try:
        answer: dict[str, Any] = await client.a_introspect(token)
    except Exception as error:
        raise AuthenticationError("the token issuer could not be asked about the token") from error
    if not answer.get("active"):
        raise AuthenticationError("the token is not active")
    agency = answer.get("azp") or answer.get("client_id")
    if not agency:
        raise AuthenticationError("the token names no client (azp)")
    roles = roles_from_claims(answer, audience=audience)
    return Principal(
        agency=str(agency),
        subject=str(answer.get("sub") or agency),
        roles=roles,
        token_id=str(answer["jti"]) if answer.get("jti") else None,
        expires_at=int(answer.get("exp") or 0),
        citizen_id=str(answer["citizen_id"]) if answer.get("citizen_id") else None,
        # a token obtained by token exchange names the officer as a signed one would
        officer=officer_from_claims(answer, roles),
    )
