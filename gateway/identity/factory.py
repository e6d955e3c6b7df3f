"""Build the token verifier the settings ask for."""

from __future__ import annotations

from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.jwks import KeySource, LocalKeys
from gateway.identity.keycloak import openid_client, realm_keys
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import AuthMode, Settings


def build_verifier(settings: Settings) -> TokenVerifier:
    keys: KeySource
    if settings.auth_mode is AuthMode.KEYCLOAK:
        keys = realm_keys(openid_client(settings))
    else:
        keys = LocalKeys(DevIssuer(settings).jwks())
    return TokenVerifier(
        issuer=settings.token_issuer, audience=settings.keycloak_audience, keys=keys
    )
