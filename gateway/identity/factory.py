"""Build the token verifier the settings ask for."""

from __future__ import annotations

from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.errors import AuthenticationError
from gateway.identity.jwks import LocalKeys
from gateway.identity.keycloak import openid_client, realm_keys
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import AuthMode, Settings


async def build_verifier(settings: Settings) -> TokenVerifier:
    """Dev mode: the local issuer's key, offline. Keycloak mode: the realm's discovery document
    (its `issuer`, which may differ from the configured URL behind a proxy) and its JWKS."""
    if settings.auth_mode is AuthMode.KEYCLOAK:
        client = openid_client(settings)
        try:
            discovery = await client.a_well_known()
        except Exception as error:
            raise AuthenticationError(
                f"the Keycloak realm's discovery document cannot be read at {settings.keycloak_url}"
            ) from error
        return TokenVerifier(
            issuer=str(discovery["issuer"]),
            audience=settings.keycloak_audience,
            keys=realm_keys(client),
        )
    return TokenVerifier(
        issuer=settings.token_issuer,
        audience=settings.keycloak_audience,
        keys=LocalKeys(DevIssuer(settings).jwks()),
    )
