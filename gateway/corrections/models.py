"""A correction request (one disputed field of one subject) and the history of its steps.

The request row holds the current state (status, the steward's forward note, the rejection's
reason, the version that corrected it); `correction_events` holds every step, appended and never
rewritten: the application role may insert there, not update or delete (migration 0017).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.corrections import OPEN_STATUSES
from registries.db import Base

STATUSES = ("reported", "forwarded", "corrected", "rejected")
STEPS = STATUSES
REPORTERS = ("citizen", "officer")
_OPEN = f"status IN {OPEN_STATUSES}"  # a dispute is open: the field shows its flag


class CorrectionRequest(Base):
    __tablename__ = "correction_requests"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"reported_by IN {REPORTERS}", name="reported_by"),
        # One open dispute per field: the flag is the field's, not the report's. Also what a
        # prefill reads the flags through (disputes are rare: the index is small)
        Index(
            "uq_correction_requests_open",
            "subject_type",
            "subject_id",
            "field",
            unique=True,
            postgresql_where=text(_OPEN),
        ),
        Index("ix_correction_requests_subject", "subject_type", "subject_id", "created_at"),
        Index("ix_correction_requests_status", "status", "created_at"),
    )

    request_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    subject_type: Mapped[str] = mapped_column(Text)  # Resident
    subject_id: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(Text)  # the GraphQL name, e.g. fullName
    domain: Mapped[str] = mapped_column(Text)  # the registry whose stewards handle it
    # the registry columns holding the field, and their values when it was disputed
    columns: Mapped[list[str]] = mapped_column(ARRAY(Text))
    disputed_value: Mapped[dict[str, Any]] = mapped_column(JSONB)
    disputed_version_id: Mapped[int] = mapped_column(BigInteger)
    explanation: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(Text)  # citizen, or officer (citizen present)
    # the citizen's id; or the agency, its verified officer and the dossier naming the citizen
    reporter: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, server_default="reported")
    source_agency: Mapped[str | None] = mapped_column(Text)
    forward_note: Mapped[str | None] = mapped_column(Text)
    forwarded_by: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    rejected_by: Mapped[str | None] = mapped_column(Text)
    corrected_version_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CorrectionEvent(Base):
    __tablename__ = "correction_events"
    __table_args__ = (
        CheckConstraint(f"step IN {STEPS}", name="step"),
        Index("ix_correction_events_request", "request_id", "event_id"),
    )

    event_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    request_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("correction_requests.request_id")
    )
    step: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)  # citizen-<id>, officer, a steward's sub, etl:<run>
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
