"""Data-sharing agreements as the steward API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.admin.types import (
    ClientId,
    FieldName,
    Instant,
    Label,
    PurposeCode,
    Relation,
    SubjectType,
)
from gateway.policy.models import Agreement

Fields = Annotated[list[FieldName], Field(min_length=1, max_length=100)]
Relations = Annotated[list[Relation], Field(min_length=1, max_length=20)]
Masking = Annotated[dict[FieldName, Label], Field(max_length=100)]
Quota = Annotated[int, Field(ge=1, le=100_000_000)]


class AgreementTerms(BaseModel):
    """What a steward may change while the agreement is not in force."""

    model_config = ConfigDict(extra="forbid")

    fields: Fields | None = None
    via: Relations | None = None
    legal_basis: Label | None = None
    legal_reference: Label | None = None
    effective_from: Instant | None = None
    effective_to: Instant | None = None
    consent_required: bool | None = None
    masking: Masking | None = None
    daily_quota: Quota | None = None


class AgreementIn(BaseModel):
    """A new agreement (a draft). Its id is `agency/purpose/subject_type`: one per scope."""

    model_config = ConfigDict(extra="forbid")

    agency: ClientId
    purpose: PurposeCode
    subject_type: SubjectType
    fields: Fields
    via: Relations | None = None
    legal_basis: Label
    legal_reference: Label | None = None
    effective_from: Instant
    effective_to: Instant | None = None
    consent_required: bool = False
    masking: Masking = Field(default_factory=dict)
    daily_quota: Quota | None = None


class ReviewNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Label


class OptionalNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Label | None = None


class AgreementOut(BaseModel):
    agreement_id: str
    agency: str
    purpose: str
    subject_type: str
    fields: list[str]
    via: list[str] | None
    legal_basis: str
    legal_reference: str | None
    effective_from: datetime
    effective_to: datetime | None
    consent_required: bool
    masking: dict[str, Any]
    daily_quota: int | None
    status: str
    created_by: str
    approved_by: str | None
    changed_by: str | None
    note: str | None
    version: int
    valid_from: datetime
    valid_to: datetime | None

    @classmethod
    def of(cls, agreement: Agreement) -> AgreementOut:
        return cls(
            agreement_id=agreement.agreement_id,
            agency=agreement.agency,
            purpose=agreement.purpose,
            subject_type=agreement.subject_type,
            fields=list(agreement.fields),
            via=list(agreement.via) if agreement.via else None,
            legal_basis=agreement.legal_basis,
            legal_reference=agreement.legal_reference,
            effective_from=agreement.effective_from,
            effective_to=agreement.effective_to,
            consent_required=agreement.consent_required,
            masking=dict(agreement.masking or {}),
            daily_quota=agreement.daily_quota,
            status=agreement.status,
            created_by=agreement.created_by,
            approved_by=agreement.approved_by,
            changed_by=agreement.changed_by,
            note=agreement.note,
            version=agreement.version_id,
            valid_from=agreement.valid_from,
            valid_to=agreement.valid_to,
        )
