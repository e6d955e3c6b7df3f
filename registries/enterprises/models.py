"""Enterprises and what hangs off them, each versioned (registries.history)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base
from registries.history import Versioned, history_table_args

ENTERPRISE_TYPES = ("tnhh_1tv", "tnhh_2tv", "co_phan", "tu_nhan", "hop_danh")
ENTERPRISE_STATUSES = ("active", "suspended", "dissolving", "dissolved", "bankrupt")


class Enterprise(Versioned, Base):
    __tablename__ = "enterprises"
    __table_args__ = (
        *history_table_args("enterprises", "enterprise_code", numeric_keys={"enterprise_code"}),
        CheckConstraint("enterprise_code ~ '^[0-9]{10}([0-9]{3})?$'", name="code_format"),
        CheckConstraint(f"enterprise_type IN {ENTERPRISE_TYPES}", name="enterprise_type"),
        CheckConstraint(f"status IN {ENTERPRISE_STATUSES}", name="status"),
        CheckConstraint("charter_capital >= 0", name="charter_capital_not_negative"),
        CheckConstraint("name = normalize(name, NFC)", name="name_nfc"),
    )

    enterprise_code: Mapped[str] = mapped_column(String(13))
    name: Mapped[str] = mapped_column(Text(collation="vietnamese"))
    foreign_name: Mapped[str | None] = mapped_column(Text)
    short_name: Mapped[str | None] = mapped_column(Text)
    enterprise_type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    registered_on: Mapped[date] = mapped_column(Date)
    charter_capital: Mapped[Decimal] = mapped_column(Numeric(20, 0))
    head_office_commune_code: Mapped[int] = mapped_column(Integer, ForeignKey("communes.code"))
    head_office_address_line: Mapped[str] = mapped_column(Text)
    # What the export wrote that the load converted or could not check (etl.validation):
    # {"former_units": {field: the pre-2025 unit it named}, "unchecked": {"business_lines": […]}}
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class LegalRepresentative(Versioned, Base):
    """Người đại diện theo pháp luật: a resident and their title (e.g. Giám đốc)."""

    __tablename__ = "enterprise_representatives"
    __table_args__ = (
        *history_table_args(
            "enterprise_representatives",
            "enterprise_code",
            "personal_id",
            numeric_keys={"enterprise_code", "personal_id"},
        ),
        Index("ix_enterprise_representatives_personal_id", "personal_id"),
    )

    enterprise_code: Mapped[str] = mapped_column(String(13))
    personal_id: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(Text)


class Owner(Versioned, Base):
    """Chủ sở hữu / thành viên góp vốn / cổ đông sáng lập: a resident or an enterprise."""

    __tablename__ = "enterprise_owners"
    __table_args__ = (
        *history_table_args(
            "enterprise_owners",
            "enterprise_code",
            "owner_id",
            numeric_keys={"enterprise_code", "owner_id"},
        ),
        CheckConstraint("owner_kind IN ('resident', 'enterprise')", name="owner_kind"),
        CheckConstraint("share_percent > 0 AND share_percent <= 100", name="share_percent"),
        Index("ix_enterprise_owners_owner_id", "owner_id"),
    )

    enterprise_code: Mapped[str] = mapped_column(String(13))
    owner_kind: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str] = mapped_column(String(13))
    share_percent: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    capital_contribution: Mapped[Decimal] = mapped_column(Numeric(20, 0))


class EnterpriseBusinessLine(Versioned, Base):
    """Ngành, nghề kinh doanh: a VSIC code; exactly one is the main line of an enterprise."""

    __tablename__ = "enterprise_business_lines"
    __table_args__ = (
        *history_table_args(
            "enterprise_business_lines",
            "enterprise_code",
            "vsic_code",
            numeric_keys={"enterprise_code"},
        ),
        Index(
            "uq_enterprise_business_lines_one_main",
            "enterprise_code",
            unique=True,
            postgresql_where=text("is_main AND valid_to IS NULL"),
        ),
    )

    enterprise_code: Mapped[str] = mapped_column(String(13))
    vsic_code: Mapped[str] = mapped_column(String(5), ForeignKey("business_lines.code"))
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)
