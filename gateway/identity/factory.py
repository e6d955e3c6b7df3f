"""Build the token verifier the settings ask for."""

from __future__ import annotations

import structlog

from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.errors import AuthenticationError
from gateway.identity.jwks import LocalKeys
from gateway.identity.keycloak import openid_client, realm_keys
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import AuthMode, Settings

log = structlog.get_logger(__name__)


async def build_verifier(settings: Settings) -> TokenVerifier:
    """Dev mode: the local issuer's key, offline. Keycloak mode: the realm's discovery document
    and its JWKS, read at the URL the gateway reaches Keycloak by. The accepted `iss`: with an
    internal URL set, the public issuer (`Settings.token_issuer`), whatever the document fetched
    inside the network says; otherwise the document's own `issuer` (which may differ from the
    configured URL behind a proxy)."""
    if settings.auth_mode is AuthMode.KEYCLOAK:
        client = openid_client(settings)
        try:
            discovery = await client.a_well_known()
        except Exception as error:
            raise AuthenticationError(
                "the Keycloak realm's discovery document cannot be read at "
                f"{settings.keycloak_server_url}"
            ) from error
        issuer = str(discovery["issuer"])
        if settings.keycloak_internal_url:
            if issuer != settings.token_issuer:
                log.warning(
                    "Keycloak's discovery document names another issuer than the public URL; "
                    "tokens are checked against the public one (set Keycloak's hostname to it)",
                    discovered=issuer, expected=settings.token_issuer,
                )  # fmt: skip
            issuer = settings.token_issuer
        return TokenVerifier(
            issuer=issuer,
            audience=settings.keycloak_audience,
            keys=realm_keys(client),
        )
    return TokenVerifier(
        issuer=settings.token_issuer,
        audience=settings.keycloak_audience,
        keys=LocalKeys(DevIssuer(settings).jwks()),
    )
