"""Access-token verification: one code path for the dev issuer and Keycloak alike.

Signature against the issuer's keys (allow-list of asymmetric algorithms: never `none`, never an
HMAC "signed" with a public key), then `iss`, `aud`, `exp` and `nbf` with a small leeway. A token
that carries the `officer` realm role (RFC 8693 token exchange) must also name its officer
completely, or it is refused: such a Principal's `officer` is verified by the token itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from gateway.identity.errors import AuthenticationError
from gateway.identity.jose import ALLOWED_ALGORITHMS, signed_header, verified_claims
from gateway.identity.jwks import KeySource
from gateway.identity.officers import officer_from_claims
from gateway.identity.principal import Principal, roles_from_claims

__all__ = ["ALLOWED_ALGORITHMS", "DEFAULT_LEEWAY_SECONDS", "MAX_TOKEN_BYTES", "TokenVerifier"]

MAX_TOKEN_BYTES = 8192
DEFAULT_LEEWAY_SECONDS = 30
# Verified signatures, by token text: the same bytes under the same keys verify the same way,
# so a client's repeated token skips the RSA check (its claims, expiry included, are still checked
# on every use). An entry lives at most this long, so that a key the issuer withdraws stops being
# honoured soon after, and the cache is emptied when it grows past its bound.
VERIFIED_TTL_SECONDS = 60
VERIFIED_MAX_TOKENS = 10_000


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeySource,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.leeway = leeway_seconds
        self.clock = clock
        self._verified: dict[str, tuple[float, dict[str, Any]]] = {}

    async def verify(self, token: str | None) -> Principal:
        return self._principal(await self.claims(token))

    async def claims(self, token: str | None) -> dict[str, Any]:
        """The claims of a token whose signature, issuer, audience, expiry and `nbf` hold
        (an OpenID ID token's too, with the client as the audience: gateway/console/oidc.py)."""
        if not token:
            raise AuthenticationError("no bearer token: send Authorization: Bearer <JWT>")
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthenticationError(f"the token is larger than {MAX_TOKEN_BYTES} bytes")
        verified = self._verified.get(token)
        if verified is not None and verified[0] > self.clock():
            claims = verified[1]
        else:
            claims = await self._verify_signature(token)
            if len(self._verified) >= VERIFIED_MAX_TOKENS:
                self._verified.clear()
            self._verified[token] = (self.clock() + VERIFIED_TTL_SECONDS, claims)
        self._check(claims)
        return claims

    async def _verify_signature(self, token: str) -> dict[str, Any]:
        """The token's claims, once its signature verifies against the issuer's keys."""
        header, algorithm = signed_header(token)
        key = await self.keys.key_for(header.get("kid"))
        return verified_claims(token, key, algorithm)

    def _check(self, claims: dict[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise AuthenticationError("the token is from another issuer")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences or []
        if self.audience not in audiences:
            raise AuthenticationError(f"the token is not meant for {self.audience}")
        now = self.clock()
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or not math.isfinite(expires):
            raise AuthenticationError("the token has no expiry (exp)")
        if now > expires + self.leeway:
            raise AuthenticationError("the token has expired")
        not_before = claims.get("nbf")
        if isinstance(not_before, int | float) and now + self.leeway < not_before:
            raise AuthenticationError("the token is not valid yet (nbf)")

    def _principal(self, claims: dict[str, Any]) -> Principal:
        expires = claims["exp"]  # checked by _check
        agency = claims.get("azp")
        if not isinstance(agency, str) or not agency:
            raise AuthenticationError("the token names no client (azp)")
        citizen_id = claims.get("citizen_id")
        roles = roles_from_claims(claims, audience=self.audience)
        return Principal(
            agency=agency,
            subject=str(claims.get("sub") or agency),
            roles=roles,
            token_id=str(claims["jti"]) if claims.get("jti") else None,
            expires_at=int(expires),
            citizen_id=str(citizen_id) if citizen_id else None,
            officer=officer_from_claims(claims, roles),
        )
