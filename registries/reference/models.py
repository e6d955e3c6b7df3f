"""Reference tables. Not versioned row by row: each list carries the edition it comes from."""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base


class Province(Base):
    """Tỉnh / thành phố trực thuộc trung ương (34 after the 2025 reorganisation)."""

    __tablename__ = "provinces"
    code: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    division_type: Mapped[str] = mapped_column(Text)
    codename: Mapped[str] = mapped_column(Text)


class Commune(Base):
    """Xã / phường / đặc khu (3,321 after the 2025 reorganisation)."""

    __tablename__ = "communes"
    code: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    division_type: Mapped[str] = mapped_column(Text)
    codename: Mapped[str] = mapped_column(Text)
    province_code: Mapped[int] = mapped_column(SmallInteger, ForeignKey("provinces.code"))


class FormerUnit(Base):
    """A province, district or commune before the 2025 reorganisation (63 / 696 / 10,061),
    from `registries/data/admin-units-before-2025.csv`. Codes are unique within a level only:
    a former commune's code is often a 2025 commune's code for another place."""

    __tablename__ = "former_units"
    level: Mapped[str] = mapped_column(Text, primary_key=True)  # province, district, commune
    code: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    division_type: Mapped[str] = mapped_column(Text)
    province_code: Mapped[int] = mapped_column(SmallInteger)
    district_code: Mapped[int | None] = mapped_column(SmallInteger)


class UnitChange(Base):
    """One row of the 2025 crosswalk (`registries/data/commune-crosswalk-2025.csv`): a former
    unit, or the part of it the note names, went into a 2025 commune. A former commune with
    several rows was split; `population` marks the part that took its whole population."""

    __tablename__ = "unit_changes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["former_level", "former_code"],
            ["former_units.level", "former_units.code"],
            name="fk_unit_changes_former_level_former_units",
        ),
        Index("ix_unit_changes_commune_code", "commune_code"),
    )
    former_level: Mapped[str] = mapped_column(Text, primary_key=True)
    former_code: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune_code: Mapped[int] = mapped_column(
        Integer, ForeignKey("communes.code"), primary_key=True
    )
    code_nso: Mapped[int] = mapped_column(Integer)  # the code the source table prints
    population: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text)
    effective_on: Mapped[date] = mapped_column(Date)


class EthnicGroup(Base):
    """The 54 ethnic groups (danh mục các dân tộc Việt Nam, Tổng cục Thống kê)."""

    __tablename__ = "ethnic_groups"
    code: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class LandUseCategory(Base):
    """Loại đất (mã loại đất in cadastral records, e.g. LUC, ONT, ODT, CLN, RSX)."""

    __tablename__ = "land_use_categories"
    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    land_group: Mapped[str] = mapped_column(Text)


class BusinessLine(Base):
    """VSIC 2018 (Quyết định 27/2018/QĐ-TTg): level-1 sections and level-5 codes, a partial
    table (docs/loads.md, "VSIC"): a code it lacks is loaded and flagged, not rejected."""

    __tablename__ = "business_lines"
    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[int] = mapped_column(SmallInteger)
    section: Mapped[str] = mapped_column(String(1))
    edition: Mapped[str] = mapped_column(Text)
