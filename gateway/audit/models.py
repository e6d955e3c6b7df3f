"""The append-only access log, partitioned by month, and the head of every hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, LargeBinary, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base


class AccessLogEntry(Base):
    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_subject", "subject_type", "subject_id", "occurred_at"),
        Index("ix_access_log_agency", "agency", "occurred_at"),
        Index("ix_access_log_chain", "chain_key", "seq"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    entry_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    chain_key: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(BigInteger)
    request_id: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(Text)
    officer: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    operation: Mapped[str | None] = mapped_column(Text)
    fields_given: Mapped[list[str]] = mapped_column(ARRAY(Text))
    fields_masked: Mapped[list[str]] = mapped_column(ARRAY(Text))
    fields_denied: Mapped[list[str]] = mapped_column(ARRAY(Text))
    decision: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class ChainHead(Base):
    """The last entry of each chain, written with it: deleting a chain's tail is detected."""

    __tablename__ = "access_log_heads"

    chain_key: Mapped[str] = mapped_column(Text, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
