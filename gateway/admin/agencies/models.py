"""Agencies, and the public keys their software signs officer assertions with, as the steward
API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.admin.types import ClientId, Label
from gateway.identity.keys import thumbprint
from gateway.policy.models import Agency, AgencyKey

# A province's 2-digit code, as in a steward's role `steward:<registry>:<province>`
Province = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]


class AgencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: ClientId
    name: Label
    kind: Label
    province: Province | None = Field(
        default=None,
        description="A provincial agency's province (2-digit code, e.g. 48): stewards of that "
        "province (role steward:<registry>:48) may decide for it. Absent: a national agency.",
    )


class AgencyChange(BaseModel):
    """Only what changes; the client id never does. `province: null` makes it national."""

    model_config = ConfigDict(extra="forbid")

    name: Label | None = None
    kind: Label | None = None
    province: Province | None = None


class AgencyOut(BaseModel):
    client_id: str
    name: str
    kind: str
    province: str | None
    status: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    changed_by: str | None

    @classmethod
    def of(cls, agency: Agency) -> AgencyOut:
        return cls(
            client_id=agency.client_id,
            name=agency.name,
            kind=agency.kind,
            province=agency.province,
            status=agency.status,
            version=agency.version_id,
            valid_from=agency.valid_from,
            valid_to=agency.valid_to,
            changed_by=agency.changed_by,
        )


EXAMPLE_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "motcua-2026-01",
    "x": "CXyXQn6zZipqgYELIfp0c0N8lZ-yd0hhxDHez5LC5w4",
    "y": "M0sVTTwB5uSv7Qal8AOEHjWrtGrkJ-uC7mDhPXrj6WI",
    "use": "sig",
    "alg": "ES256",
}


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jwk: dict[str, Any] = Field(
        description="The agency's public JWK (RFC 7517): RSA of at least 2048 bits or EC P-256, "
        "with a `kid` (up to 64 letters, digits or . : _ -) unique to the agency. Never a "
        "private key.",
        examples=[EXAMPLE_JWK],
    )


class KeyOut(BaseModel):
    agency: str
    kid: str
    status: str
    jwk: dict[str, Any]
    thumbprint: str = Field(description="RFC 7638 SHA-256 thumbprint of the public key.")
    created_at: datetime
    created_by: str
    retired_at: datetime | None
    retired_by: str | None

    @classmethod
    def of(cls, key: AgencyKey) -> KeyOut:
        return cls(
            agency=key.agency,
            kid=key.kid,
            status=key.status,
            jwk=key.jwk,
            thumbprint=thumbprint(key.jwk),
            created_at=key.created_at,
            created_by=key.created_by,
            retired_at=key.retired_at,
            retired_by=key.retired_by,
        )
