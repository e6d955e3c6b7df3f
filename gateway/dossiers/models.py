"""A registered one-stop dossier: who opened it, for which purpose, the subjects it concerns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base


class Dossier(Base):
    __tablename__ = "dossiers"
    __table_args__ = (
        Index("ix_dossiers_agency", "agency", "opened_at"),
        Index("ix_dossiers_subjects", "subjects", postgresql_using="gin"),
    )

    number: Mapped[str] = mapped_column(Text, primary_key=True)  # mã hồ sơ
    agency: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    procedure: Mapped[str | None] = mapped_column(Text)
    # [{"type": "Resident", "id": "…", "role": "applicant"}, …]
    subjects: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    officer: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the opening officer, as verified
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(Text)
