"""Bookkeeping of every load: one `etl_runs` row per run, one `etl_rejects` row per rejected row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base


class EtlRun(Base):
    __tablename__ = "etl_runs"

    run_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    target: Mapped[str] = mapped_column(Text)  # residents, enterprises or parcels
    source_path: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(Text)
    source_encoding: Mapped[str | None] = mapped_column(Text)
    source_crs: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # running, done, unbalanced, failed, refused (the guard stopped it), dry-run, rollback
    status: Mapped[str] = mapped_column(Text, default="running")
    read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    rejected_by_reason: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    duration_seconds: Mapped[float | None] = mapped_column()
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    guard: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # etl.guard's figures
    actor: Mapped[str | None] = mapped_column(Text)  # who ran it (the operating-system user)
    rollback_of: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("etl_runs.run_id"))
    rolled_back_by: Mapped[int | None] = mapped_column(BigInteger)
    # rows loaded with something flagged, by warning code (FAMILY_LINK_UNRESOLVED, …)
    warned_by_reason: Mapped[dict[str, int]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    # links of earlier records to residents this load brought (registries.residents.family)
    resolved_links: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # records a full export closed (each in etl_closures), and its scope and figures
    closed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    full_export: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class EtlReject(Base):
    __tablename__ = "etl_rejects"

    reject_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("etl_runs.run_id", ondelete="CASCADE"), index=True
    )
    line_number: Mapped[int] = mapped_column(Integer)
    reason_code: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    source_row: Mapped[dict[str, Any]] = mapped_column(JSONB)


class EtlClosure(Base):
    """A record a full export closed because it no longer held it (etl.closures)."""

    __tablename__ = "etl_closures"

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("etl_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    # the registry table: residents, households, enterprises, parcels
    table_name: Mapped[str] = mapped_column("registry", Text, primary_key=True)
    record_key: Mapped[str] = mapped_column(Text, primary_key=True)
