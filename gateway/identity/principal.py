"""Who is calling: the claims of a verified access token that the gateway relies on.

`officer` is set only from the token itself (an RFC 8693 token-exchange token that names its
officer); an officer asserted by the agency's software or sent as a header is the router's to
verify and never lands here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.identity.officers import Officer

AGENCY = "agency"
STEWARD = "steward"
CITIZEN = "citizen"


@dataclass(frozen=True)
class Principal:
    agency: str  # the client id (`azp`): the agency or application acting
    subject: str  # `sub`
    roles: frozenset[str]  # realm roles and client roles, flattened
    token_id: str | None  # `jti`
    expires_at: int  # `exp`, seconds since the epoch
    citizen_id: str | None = None  # 12-digit personal ID, citizens only
    officer: Officer | None = None  # the officer the token itself names (verified="token")

    @property
    def is_citizen(self) -> bool:
        return CITIZEN in self.roles and self.citizen_id is not None

    @property
    def is_steward(self) -> bool:
        return STEWARD in self.roles

    @property
    def is_agency(self) -> bool:
        return AGENCY in self.roles


def roles_from_claims(claims: Mapping[str, Any], *, audience: str) -> frozenset[str]:
    """Realm roles plus the roles granted on the gateway's own client (Keycloak's shapes)."""
    realm = claims.get("realm_access") or {}
    resource = (claims.get("resource_access") or {}).get(audience) or {}
    roles = [*realm.get("roles", []), *resource.get("roles", [])]
    return frozenset(str(role) for role in roles if isinstance(role, str))
