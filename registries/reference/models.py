"""Reference tables. Not versioned row by row: each list carries the edition it comes from."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, SmallInteger, String, Text
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
    """VSIC 2018 (Quyết định 27/2018/QĐ-TTg): level-1 sections and level-5 codes."""

    __tablename__ = "business_lines"
    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[int] = mapped_column(SmallInteger)
    section: Mapped[str] = mapped_column(String(1))
    edition: Mapped[str] = mapped_column(Text)
