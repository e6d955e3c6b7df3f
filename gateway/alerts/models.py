"""Bulk-access alerts: facts for a steward to review, never automatic blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base

ALERT_KINDS = ("officer_volume", "off_hours", "absent_lookups", "dossier_breadth")
ALERT_STATUSES = ("open", "reviewed", "dismissed")


class AccessAlert(Base):
    __tablename__ = "access_alerts"
    __table_args__ = (
        CheckConstraint(f"kind IN {ALERT_KINDS}", name="kind"),
        CheckConstraint(f"status IN {ALERT_STATUSES}", name="status"),
        # one alert per pattern, actor and window, however many processes scan
        Index(
            "uq_access_alerts_once",
            "kind",
            "agency",
            text("coalesce(officer, '')"),
            text("coalesce(dossier, '')"),
            "window_start",
            unique=True,
        ),
        Index("ix_access_alerts_status", "status", "raised_at"),
    )

    alert_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(Text)
    officer: Mapped[str | None] = mapped_column(Text)
    dossier: Mapped[str | None] = mapped_column(Text)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entries: Mapped[int] = mapped_column(Integer)  # access-log entries in the window
    subjects: Mapped[int] = mapped_column(Integer)  # distinct subjects among them
    measure: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the figures and the threshold
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, default="open", server_default="open")
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
