"""Citizens' consents as stewards see them, and a consent given on paper at a counter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.admin.types import ClientId, FieldName, Instant, Officer, PurposeCode, Reference
from gateway.policy.consents import MAX_CONSENT_FIELDS
from gateway.policy.models import Consent

PersonalId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]


class PaperConsentIn(BaseModel):
    """A consent form signed at a counter: the officer who took it and the paper's reference."""

    model_config = ConfigDict(extra="forbid")

    subject_id: PersonalId
    agency: ClientId
    purpose: PurposeCode
    fields: Annotated[list[FieldName], Field(min_length=1, max_length=MAX_CONSENT_FIELDS)]
    expires_at: Instant
    officer: Officer
    document_reference: Reference


class ConsentOut(BaseModel):
    consent_id: str
    subject_id: str
    agency: str
    purpose: str
    fields: list[str]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    channel: str
    officer: str | None
    document_reference: str | None
    version: int

    @classmethod
    def of(cls, consent: Consent) -> ConsentOut:
        return cls(
            consent_id=consent.consent_id,
            subject_id=consent.subject_id,
            agency=consent.agency,
            purpose=consent.purpose,
            fields=list(consent.fields),
            granted_at=consent.granted_at,
            expires_at=consent.expires_at,
            revoked_at=consent.revoked_at,
            channel=consent.channel,
            officer=consent.officer,
            document_reference=consent.document_reference,
            version=consent.version_id,
        )
