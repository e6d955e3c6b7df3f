"""Who is calling: the claims of a verified access token that the gateway relies on.

`officer` is set only from the token itself (an RFC 8693 token-exchange token that names its
officer); an officer asserted by the agency's software or sent as a header is the router's to
verify and never lands here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gateway.identity.officers import Officer
from gateway.subjects import STEWARDED_DOMAINS

AGENCY = "agency"
STEWARD = "steward"  # may use the admin API and propose changes; decides nothing alone
CITIZEN = "citizen"
ADMIN = "admin"  # the platform's administrator: agencies and purposes
# `steward:<domain>` stewards a registry nationwide, `steward:<domain>:<province>` (2-digit
# province code) for agencies of that province; domains are gateway.subjects.STEWARDED_DOMAINS.
STEWARD_OF = "steward:"
_PROVINCE = re.compile(r"[0-9]{2}")


@dataclass(frozen=True)
class Stewardship:
    """What a steward may decide: the registries (domains) they steward, each nationwide
    (None) or for some provinces, and whether they administer the platform. Deny by default:
    a role naming an unknown domain or a malformed province grants nothing."""

    admin: bool = False
    domains: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    @classmethod
    def of(cls, roles: Iterable[str]) -> Stewardship:
        domains: dict[str, frozenset[str] | None] = {}
        for role in roles:
            if not role.startswith(STEWARD_OF):
                continue
            domain, _, province = role[len(STEWARD_OF) :].partition(":")
            if domain not in STEWARDED_DOMAINS or (province and not _PROVINCE.fullmatch(province)):
                continue
            held = domains.get(domain, frozenset())
            if not province or held is None:
                domains[domain] = None  # nationwide
            else:
                domains[domain] = held | {province}
        return cls(admin=ADMIN in roles, domains=domains)

    def covers(self, domain: str, province: str | None = None) -> bool:
        """Whether this steward decides for `domain`, for an agency of `province` (None: a
        national agency, which only a nationwide steward decides for)."""
        if domain not in self.domains:
            return False
        provinces = self.domains[domain]
        return provinces is None or (province is not None and province in provinces)


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
        """May use the admin API: a steward of any scope, or the platform's administrator."""
        return bool(self.roles & {STEWARD, ADMIN}) or any(
            role.startswith(STEWARD_OF) for role in self.roles
        )

    @cached_property
    def stewardship(self) -> Stewardship:
        return Stewardship.of(self.roles)

    @property
    def is_agency(self) -> bool:
        return AGENCY in self.roles


def roles_from_claims(claims: Mapping[str, Any], *, audience: str) -> frozenset[str]:
    """Realm roles plus the roles granted on the gateway's own client (Keycloak's shapes)."""
    realm = claims.get("realm_access") or {}
    resource = (claims.get("resource_access") or {}).get(audience) or {}
    roles = [*realm.get("roles", []), *resource.get("roles", [])]
    return frozenset(str(role) for role in roles if isinstance(role, str))
