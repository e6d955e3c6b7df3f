"""Residents and households, versioned (registries.history)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base
from registries.history import Versioned, history_table_args

SEXES = ("male", "female")
MARITAL_STATUSES = ("single", "married", "divorced", "widowed")


class Resident(Versioned, Base):
    """A citizen's record in the population registry, keyed by the 12-digit personal ID."""

    __tablename__ = "residents"
    __table_args__ = (
        *history_table_args("residents", "personal_id", numeric_keys={"personal_id"}),
        CheckConstraint("personal_id ~ '^[0-9]{12}$'", name="personal_id_format"),
        CheckConstraint(f"sex IN {SEXES}", name="sex"),
        CheckConstraint(
            f"marital_status IS NULL OR marital_status IN {MARITAL_STATUSES}", name="marital_status"
        ),
        CheckConstraint("deceased OR deceased_on IS NULL", name="deceased_on_only_if_deceased"),
        CheckConstraint("full_name = normalize(full_name, NFC)", name="full_name_nfc"),
        Index("ix_residents_household_id", "household_id"),
        # lookups by an old document's number, traversals to children and the family checks
        # of a load (registries.residents.family); every version, for `asOf` reads
        *(
            Index(f"ix_residents_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"))
            for column in ("id_card_number", "father_id", "mother_id", "spouse_id")
        ),
    )

    personal_id: Mapped[str] = mapped_column(String(12))
    full_name: Mapped[str] = mapped_column(Text(collation="vietnamese"))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(Text)
    ethnicity_code: Mapped[int] = mapped_column(SmallInteger, ForeignKey("ethnic_groups.code"))
    religion: Mapped[str | None] = mapped_column(Text)
    nationality: Mapped[str] = mapped_column(String(2), default="VN")
    place_of_birth: Mapped[str | None] = mapped_column(Text)
    hometown: Mapped[str | None] = mapped_column(Text)
    permanent_commune_code: Mapped[int | None] = mapped_column(Integer, ForeignKey("communes.code"))
    permanent_address_line: Mapped[str | None] = mapped_column(Text)
    temporary_commune_code: Mapped[int | None] = mapped_column(Integer, ForeignKey("communes.code"))
    temporary_address_line: Mapped[str | None] = mapped_column(Text)
    household_id: Mapped[str | None] = mapped_column(String(20))
    relationship_to_head: Mapped[str | None] = mapped_column(Text)
    father_id: Mapped[str | None] = mapped_column(String(12))
    mother_id: Mapped[str | None] = mapped_column(String(12))
    spouse_id: Mapped[str | None] = mapped_column(String(12))
    marital_status: Mapped[str | None] = mapped_column(Text)
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    deceased_on: Mapped[date | None] = mapped_column(Date)
    # the identity card's number: a 9-digit CMND or a 12-digit card (registries.identifiers)
    id_card_number: Mapped[str | None] = mapped_column(String(12))
    id_card_issued_on: Mapped[date | None] = mapped_column(Date)
    id_card_expires_on: Mapped[date | None] = mapped_column(Date)
    # What the export wrote that the load converted (etl.validation): {"former_units": {field:
    # the pre-2025 commune it named, how it became the 2025 commune stored}}
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Household(Versioned, Base):
    """Hộ gia đình: its head and registered address. Members are the residents whose
    `household_id` names it, with their `relationship_to_head` (one source of truth)."""

    __tablename__ = "households"
    __table_args__ = (
        *history_table_args("households", "household_id", numeric_keys={"household_id"}),
        CheckConstraint("household_id ~ '^[0-9]{12}$'", name="household_id_format"),
    )

    household_id: Mapped[str] = mapped_column(String(20))
    head_id: Mapped[str] = mapped_column(String(12))
    commune_code: Mapped[int] = mapped_column(Integer, ForeignKey("communes.code"))
    address_line: Mapped[str] = mapped_column(Text)
    # The head's provenance for the address: {"former_units": {"commune_code": …}} when the
    # export named a pre-2025 commune
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
