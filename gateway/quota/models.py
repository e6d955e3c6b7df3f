"""Shared limit state: rate buckets (leased in slices) and daily disclosure counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Float, Text
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base


class RateBucket(Base):
    """A token bucket shared by every gateway process: `tokens` as of `updated_at`. Processes
    take slices of it, never one token per request. Unlogged: after a crash buckets start full."""

    __tablename__ = "rate_buckets"
    __table_args__ = {"prefixes": ["UNLOGGED"]}  # noqa: RUF012 - SQLAlchemy's declaration

    key: Mapped[str] = mapped_column(Text, primary_key=True)  # "agency:<id>" or "citizen:<id>"
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QuotaUsage(Base):
    """Subjects disclosed per agency, purpose, subject type and day (Vietnam time): `disclosed`
    is counted by the access log's group commit, `granted` is what processes have leased."""

    __tablename__ = "quota_usage"

    agency: Mapped[str] = mapped_column(Text, primary_key=True)
    purpose: Mapped[str] = mapped_column(Text, primary_key=True)
    subject_type: Mapped[str] = mapped_column(Text, primary_key=True)  # the access log's name
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    disclosed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    granted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
