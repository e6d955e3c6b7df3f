"""The embedded development issuer: Keycloak-shaped access tokens signed with a local key pair,
and officer assertions signed with per-agency development keys.

The RSA key is generated once under `<home>/dev-issuer/` (mode 0600) and reused; its public JWKS
and a discovery document are served by the gateway (`views.py`) under the same paths Keycloak
uses. Each agency's assertion key likewise lives under `<home>/dev-issuer/agencies/` (mode 0600);
only its public half is ever registered. Both exist only for development: they refuse to work
when LIENTHONG_ENV=prod.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from jwcrypto import jwk, jwt

from gateway.identity.officers import OFFICER_ROLE, assertion_claims, token_claims
from lienthong.settings import Env, Settings

KEY_FILE = "signing-key.json"
AGENCY_KEYS = "agencies"
DEFAULT_TTL_SECONDS = 3600
DEFAULT_ASSERTION_TTL_SECONDS = 300
# A client id, as the admin API takes it: it names a file, so nothing else may pass
CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


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
        return _load_or_create_key(self.folder / KEY_FILE, kid_prefix="")

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

    def mint_officer(
        self,
        *,
        agency: str,
        officer: str,
        name: str,
        unit: str,
        roles: list[str] | tuple[str, ...] = ("agency",),
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        now: float | None = None,
    ) -> str:
        """A token shaped like Keycloak's answer to an RFC 8693 token exchange: client `agency`
        acting for `officer`, who holds the `officer` realm role and a `unit` attribute."""
        return self.mint(
            agency=agency,
            roles=[*roles, OFFICER_ROLE],
            ttl_seconds=ttl_seconds,
            now=now,
            extra_claims={
                "sub": f"officer-{officer}",
                **token_claims(officer=officer, name=name, unit=unit),
            },
        )


class DevAgencyKeys:
    """Each agency's development assertion key (RSA, RS256), one file per agency, made on first
    use. What a real agency keeps in its own software: the gateway only sees the public half."""

    def __init__(self, home: Path) -> None:
        self.folder = home / "dev-issuer" / AGENCY_KEYS
        self._keys: dict[str, jwk.JWK] = {}  # parsed once: benchmarks sign many assertions

    @classmethod
    def from_settings(cls, settings: Settings) -> DevAgencyKeys:
        if settings.env is Env.PROD:
            raise DevIssuerRefused(
                "development agency keys are disabled when LIENTHONG_ENV=prod; officer "
                "assertions are signed by the agency's own software"
            )
        return cls(settings.home)

    def _path(self, agency: str) -> Path:
        if not CLIENT_ID.fullmatch(agency):
            raise ValueError(f"not a client id: {agency!r}")
        return self.folder / f"{agency}.json"

    def key(self, agency: str) -> jwk.JWK:
        """The agency's private key (made on first use); its kid is `dev-` + its thumbprint."""
        key = self._keys.get(agency)
        if key is None:
            key = self._keys[agency] = _load_or_create_key(self._path(agency), kid_prefix="dev-")
        return key

    def renew(self, agency: str) -> jwk.JWK:
        """A new key for the agency, replacing the old file (e.g. after its key was retired)."""
        self._path(agency).unlink(missing_ok=True)
        self._keys.pop(agency, None)
        return self.key(agency)

    def kid(self, agency: str) -> str:
        return str(self.key(agency).get("kid"))

    def public_jwk(self, agency: str) -> dict[str, Any]:
        """The public JWK to register for the agency (`POST /admin/agencies/{agency}/keys`)."""
        key = self.key(agency)
        public: dict[str, Any] = json.loads(key.export_public())
        return {**public, "kid": str(key.get("kid")), "alg": "RS256", "use": "sig"}

    def assertion(
        self,
        *,
        agency: str,
        officer: str,
        name: str,
        unit: str,
        ttl: int = DEFAULT_ASSERTION_TTL_SECONDS,
        audience: str = "lienthong-gateway",
        now: float | None = None,
        claims: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        """An officer assertion for `X-Officer-Assertion`, signed with the agency's key.
        `claims` and `header` override members (tests build wrong assertions with them)."""
        key = self.key(agency)
        body = assertion_claims(
            agency=agency,
            officer=officer,
            name=name,
            unit=unit,
            audience=audience,
            issued_at=int(now if now is not None else time.time()),
            ttl_seconds=ttl,
            jti=str(uuid.uuid4()),
        )
        signed = jwt.JWT(
            header={"alg": "RS256", "typ": "JWT", "kid": str(key.get("kid")), **(header or {})},
            claims={**body, **(claims or {})},
        )
        signed.make_signed_token(key)
        return str(signed.serialize())


def _load_or_create_key(path: Path, *, kid_prefix: str) -> jwk.JWK:
    """An RSA key kept in `path` (mode 0600), generated the first time."""
    if path.exists():
        return jwk.JWK.from_json(path.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = jwk.JWK.generate(kty="RSA", size=2048, alg="RS256", use="sig")
    key_id = kid_prefix + key.thumbprint()
    key = jwk.JWK(**{**json.loads(key.export_private()), "kid": key_id})
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key.export_private())
        # a link never replaces: of two processes starting at once, the first key wins and
        # both go on with it
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return jwk.JWK.from_json(path.read_text(encoding="utf-8"))
