"""The embedded development issuer: Keycloak-shaped access tokens signed with a local key pair.

The RSA key is generated once under `<home>/dev-issuer/` (mode 0600) and reused; its public JWKS
and a discovery document are served by the gateway (`views.py`) under the same paths Keycloak
uses. It exists only for development: it refuses to work when LIENTHONG_ENV=prod.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from jwcrypto import jwk, jwt

from lienthong.settings import Env, Settings

KEY_FILE = "signing-key.json"
DEFAULT_TTL_SECONDS = 3600


class DevIssuerRefused(RuntimeError):  # noqa: N818 - it is a refusal, not an error state
    """The dev issuer was asked for in production."""


class DevIssuer:
    def __init__(self, settings: Settings) -> None:
        if settings.env is Env.PROD:
            raise DevIssuerRefused(
                "the embedded dev issuer is disabled when LIENTHONG_ENV=prod; "
                "tokens come from Keycloak"
            )
        self.issuer = settings.token_issuer
        self.audience = settings.keycloak_audience
        self.folder = settings.home / "dev-issuer"
        self.key = self._load_or_create_key()

    def _load_or_create_key(self) -> jwk.JWK:
        path = self.folder / KEY_FILE
        if path.exists():
            return jwk.JWK.from_json(path.read_text(encoding="utf-8"))
        self.folder.mkdir(parents=True, exist_ok=True)
        key = jwk.JWK.generate(kty="RSA", size=2048, alg="RS256", use="sig")
        key_id = key.thumbprint()
        key = jwk.JWK(**{**json.loads(key.export_private()), "kid": key_id})
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key.export_private())
        temporary.replace(path)  # atomic: two processes starting at once keep one key
        return jwk.JWK.from_json(path.read_text(encoding="utf-8"))

    @property
    def key_id(self) -> str:
        return str(self.key.get("kid"))

    def jwks(self) -> dict[str, Any]:
        public = json.loads(self.key.export_public())
        return {"keys": [{**public, "alg": "RS256", "use": "sig", "kid": self.key_id}]}

    def discovery(self) -> dict[str, Any]:
        base = f"{self.issuer}/protocol/openid-connect"
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{base}/certs",
            "token_endpoint": f"{base}/token",
            "id_token_signing_alg_values_supported": ["RS256"],
            "grant_types_supported": ["client_credentials"],
        }

    def mint(
        self,
        *,
        agency: str,
        roles: list[str] | tuple[str, ...] = ("agency",),
        citizen_id: str | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        now: float | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed access token shaped like Keycloak's for client `agency`."""
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [self.audience],
            "azp": agency,
            "sub": f"service-account-{agency}" if citizen_id is None else f"citizen-{citizen_id}",
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "jti": str(uuid.uuid4()),
            "typ": "Bearer",
            "realm_access": {"roles": list(roles)},
            "resource_access": {self.audience: {"roles": list(roles)}},
        }
        if citizen_id is not None:
            claims["citizen_id"] = citizen_id
        claims.update(extra_claims or {})
        token = jwt.JWT(header={"alg": "RS256", "typ": "JWT", "kid": self.key_id}, claims=claims)
        token.make_signed_token(self.key)
        return str(token.serialize())
