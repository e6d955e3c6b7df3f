"""Who may see what: agencies, purposes, data-sharing agreements and citizens' consents.

Every table keeps its history (registries.history): a steward's change or a citizen's
revocation closes the version in force and opens a new one, so "what did the rules say on that
day" is always answerable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base
from registries.history import Versioned, history_table_args

AGREEMENT_STATUSES = ("draft", "submitted", "approved", "rejected", "suspended", "expired")


class Agency(Versioned, Base):
    __tablename__ = "agencies"
    __table_args__ = (
        *history_table_args("agencies", "client_id"),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
    )

    client_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="active")
    changed_by: Mapped[str | None] = mapped_column(Text)  # the steward who made this version
    # A provincial agency's province (2-digit code): its stewards may decide for it
    # (role steward:<domain>:<pp>); None for a national agency.
    province: Mapped[str | None] = mapped_column(Text)


class Purpose(Versioned, Base):
    __tablename__ = "purposes"
    __table_args__ = history_table_args("purposes", "code")

    code: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    procedure: Mapped[str] = mapped_column(Text)
    # Case-bound: every request for it names a registered one-stop dossier (`X-Dossier`) and
    # reaches by key only the subjects that dossier concerns.
    case_bound: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    changed_by: Mapped[str | None] = mapped_column(Text)  # who proposed this version
    approved_by: Mapped[str | None] = mapped_column(Text)  # who approved it (Proposal)


class Agreement(Versioned, Base):
    """Thỏa thuận chia sẻ dữ liệu: agency × purpose × subject type × fields, on a legal basis."""

    __tablename__ = "agreements"
    __table_args__ = (
        *history_table_args("agreements", "agreement_id"),
        CheckConstraint(f"status IN {AGREEMENT_STATUSES}", name="status"),
        Index("ix_agreements_agency", "agency"),
    )

    agreement_id: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    via: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    legal_basis: Mapped[str] = mapped_column(Text)
    legal_reference: Mapped[str | None] = mapped_column(Text)
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    effective_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_required: Mapped[bool] = mapped_column(Boolean, default=False)
    masking: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, default="draft")
    created_by: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # why it was rejected or suspended


DOCUMENT_STATUSES = ("submitted", "approved", "rejected", "suspended", "revoked")


class AgencyDocument(Versioned, Base):
    """A GraphQL document one agency may run for one purpose, checked against the schema and
    its agreements when proposed and approved by stewards of every registry it reaches."""

    __tablename__ = "agency_documents"
    __table_args__ = (
        *history_table_args("agency_documents", "document_id"),
        CheckConstraint(f"status IN {DOCUMENT_STATUSES}", name="status"),
        Index("ix_agency_documents_agency", "agency"),
    )

    document_id: Mapped[str] = mapped_column(Text)  # "<agency>/<operation name>"
    agency: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)  # the operation's name
    text: Mapped[str] = mapped_column(Text)  # as proposed (what runs)
    reaches: Mapped[list[str]] = mapped_column(ARRAY(Text))  # the subject types it reads
    status: Mapped[str] = mapped_column(Text, default="submitted")
    approvals: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)  # scope -> steward
    created_by: Mapped[str] = mapped_column(Text)  # who proposed this text
    changed_by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # why rejected, suspended or revoked


SUBSCRIPTION_STATUSES = ("submitted", "approved", "rejected", "suspended", "revoked")


class Subscription(Versioned, Base):
    """An agency's subscription to change events (registries.events.EVENT_TYPES) for a purpose,
    approved by stewards of every registry its event types concern (four-eyes); pushed to
    `endpoint` signed with `secret` (Standard Webhooks), or pulled from the feed."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        *history_table_args("subscriptions", "subscription_id"),
        CheckConstraint(f"status IN {SUBSCRIPTION_STATUSES}", name="status"),
        Index("ix_subscriptions_agency", "agency"),
    )

    subscription_id: Mapped[str] = mapped_column(Text)  # "<agency>/<name>"
    agency: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    endpoint: Mapped[str | None] = mapped_column(Text)  # None: the pull feed only
    secret: Mapped[str | None] = mapped_column(Text)  # whsec_…, shown once when created
    status: Mapped[str] = mapped_column(Text, default="submitted")
    approvals: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class Consent(Versioned, Base):
    """A citizen's consent (sự đồng ý của chủ thể dữ liệu) for one agency and purpose."""

    __tablename__ = "consents"
    __table_args__ = (
        *history_table_args("consents", "consent_id"),
        Index("ix_consents_subject", "subject_id", "agency"),
        CheckConstraint("expires_at > granted_at", name="expires_after_granted"),
    )

    consent_id: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str] = mapped_column(Text, default="online")  # online, or paper at a counter
    officer: Mapped[str | None] = mapped_column(Text)
    document_reference: Mapped[str | None] = mapped_column(Text)


class FormTemplate(Versioned, Base):
    """A prefill form template edited by a steward; it overrides `graphql/forms/<code>.yaml`."""

    __tablename__ = "form_templates"
    __table_args__ = history_table_args("form_templates", "code")

    code: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changed_by: Mapped[str | None] = mapped_column(Text)  # who proposed this version
    approved_by: Mapped[str | None] = mapped_column(Text)  # who approved it (Proposal)


PROPOSAL_KINDS = ("purpose", "form")
PROPOSAL_STATUSES = ("submitted", "approved", "rejected")


class Proposal(Versioned, Base):
    """A change to a purpose or a form awaiting approval. What runs stays the version in force
    (`purposes`, `form_templates`, which hold approved versions only) until stewards of every
    scope the change reaches have approved it (gateway.admin.approvals); then the change is
    written there, naming who proposed and who approved it. One open proposal per purpose or
    form: a new one replaces it (and its approvals), the history keeps both."""

    __tablename__ = "proposals"
    __table_args__ = (
        *history_table_args("proposals", "kind", "code"),
        CheckConstraint(f"kind IN {PROPOSAL_KINDS}", name="kind"),
        CheckConstraint(f"status IN {PROPOSAL_STATUSES}", name="status"),
    )

    kind: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text)  # the purpose's or the form's code
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the purpose or template proposed
    # The ETag of the version in force it was proposed against (None: a new one); approving it
    # once that version has changed would undo the change unseen, so it is refused.
    base: Mapped[str | None] = mapped_column(Text)
    needs: Mapped[list[str]] = mapped_column(ARRAY(Text))  # the scopes that must approve
    approvals: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)  # scope -> steward
    status: Mapped[str] = mapped_column(Text, default="submitted")
    proposed_by: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(Text)  # who made this version (a decider)
    note: Mapped[str | None] = mapped_column(Text)  # why it was rejected


class AgencyKey(Base):
    """A public key an agency signs its officer assertions with (a JWK). Rotation: register the
    new key, then retire the old one; a retired key verifies nothing from the next request on."""

    __tablename__ = "agency_keys"
    __table_args__ = (
        UniqueConstraint("agency", "kid"),
        CheckConstraint("status IN ('active', 'retired')", name="status"),
    )

    key_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    agency: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(Text)
    jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)  # public parts only
    status: Mapped[str] = mapped_column(Text, default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(Text)


class PolicyVersion(Base):
    """Bumped by trigger on every agreement, agency, purpose, form or agency key change: caches
    compare and reload (a proposal changes nothing that runs, so it moves nothing)."""

    __tablename__ = "policy_version"

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
