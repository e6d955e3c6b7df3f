"""Test data factories: real rows in the registries, with valid identifiers and sane defaults."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shapely.geometry import MultiPolygon, box
from sqlalchemy.ext.asyncio import AsyncSession

from registries.enterprises.models import (
    Enterprise,
    EnterpriseBusinessLine,
    LegalRepresentative,
)
from registries.history import supersede
from registries.identifiers import Sex, make_enterprise_code, make_personal_id
from registries.parcels.models import Parcel, ParcelRight
from registries.parcels.service import register_parcel
from registries.residents.models import Household, Resident

HAI_CHAU = 20242  # Phường Hải Châu, Thành phố Đà Nẵng (2025 code)
_serials = itertools.count(1)

# A 20 m × 20 m square in Đà Nẵng, in degrees (≈ 0.00018° of latitude, 0.000185° of longitude).
DA_NANG_LON, DA_NANG_LAT = 108.2208, 16.0678
SQUARE_DEG_LON, SQUARE_DEG_LAT = 0.000187, 0.00018


def new_personal_id(
    *, birth_date: date = date(1985, 3, 2), sex: Sex = Sex.MALE, prefix: str = "048"
) -> str:
    return make_personal_id(
        province_prefix=prefix, sex=sex, birth_date=birth_date, serial=next(_serials)
    )


def new_enterprise_code() -> str:
    while True:
        try:
            return make_enterprise_code(serial=400_000_000 + next(_serials))
        except ValueError:
            continue


async def make_resident(
    session: AsyncSession, *, effective: datetime | None = None, **overrides: Any
) -> Resident:
    birth_date = overrides.pop("birth_date", date(1985, 3, 2))
    sex = Sex(overrides.pop("sex", "male"))
    personal_id = overrides.pop("personal_id", None) or new_personal_id(
        birth_date=birth_date, sex=sex
    )
    values: dict[str, Any] = {
        "full_name": "Nguyễn Văn An",
        "birth_date": birth_date,
        "sex": sex.value,
        "ethnicity_code": 1,
        "nationality": "VN",
        "permanent_commune_code": HAI_CHAU,
        "permanent_address_line": "12 Trần Phú",
        "deceased": False,
        **overrides,
    }
    resident, _ = await supersede(
        session=session,
        model=Resident,
        key={"personal_id": personal_id},
        values=values,
        effective=effective,
    )
    return resident


async def make_household(
    session: AsyncSession, *, head: Resident, household_id: str | None = None
) -> Household:
    household, _ = await supersede(
        session=session,
        model=Household,
        key={"household_id": household_id or f"48{next(_serials):010d}"},
        values={
            "head_id": head.personal_id,
            "commune_code": HAI_CHAU,
            "address_line": head.permanent_address_line or "12 Trần Phú",
        },
    )
    return household


async def make_enterprise(session: AsyncSession, **overrides: Any) -> Enterprise:
    code = overrides.pop("enterprise_code", None) or new_enterprise_code()
    values: dict[str, Any] = {
        "name": "Công ty TNHH Thương mại Sông Hàn",
        "enterprise_type": "tnhh_1tv",
        "status": "active",
        "registered_on": date(2015, 6, 1),
        "charter_capital": Decimal("5000000000"),
        "head_office_commune_code": HAI_CHAU,
        "head_office_address_line": "45 Bạch Đằng",
        **overrides,
    }
    enterprise, _ = await supersede(
        session=session, model=Enterprise, key={"enterprise_code": code}, values=values
    )
    return enterprise


async def make_representative(
    session: AsyncSession, *, enterprise: Enterprise, resident: Resident, title: str = "Giám đốc"
) -> LegalRepresentative:
    representative, _ = await supersede(
        session=session,
        model=LegalRepresentative,
        key={"enterprise_code": enterprise.enterprise_code, "personal_id": resident.personal_id},
        values={"title": title},
    )
    return representative


async def make_business_line(
    session: AsyncSession, *, enterprise: Enterprise, vsic_code: str, is_main: bool = False
) -> EnterpriseBusinessLine:
    line, _ = await supersede(
        session=session,
        model=EnterpriseBusinessLine,
        key={"enterprise_code": enterprise.enterprise_code, "vsic_code": vsic_code},
        values={"is_main": is_main},
    )
    return line


def square(lon: float, lat: float) -> MultiPolygon:
    """A ≈ 20 m × 20 m square whose south-west corner is (lon, lat)."""
    return MultiPolygon([box(lon, lat, lon + SQUARE_DEG_LON, lat + SQUARE_DEG_LAT)])


async def make_parcel(
    session: AsyncSession,
    *,
    polygon: MultiPolygon | None = None,
    declared_area: Decimal | None = None,
    **overrides: Any,
) -> Parcel:
    polygon = polygon or square(DA_NANG_LON, DA_NANG_LAT)
    return await register_parcel(
        session=session,
        polygon=polygon,
        commune_code=overrides.pop("commune_code", HAI_CHAU),
        map_sheet=overrides.pop("map_sheet", 12),
        parcel_number=overrides.pop("parcel_number", next(_serials)),
        declared_area=declared_area or Decimal("400.00"),
        land_use_code=overrides.pop("land_use_code", "ODT"),
        address_line=overrides.pop("address_line", "Tổ 5"),
    )


async def make_right(
    session: AsyncSession,
    *,
    parcel: Parcel,
    holder_id: str,
    holder_kind: str = "resident",
    kind: str = "use_right",
    certificate_number: str = "CS 01234",
) -> ParcelRight:
    right, _ = await supersede(
        session=session,
        model=ParcelRight,
        key={
            "parcel_id": parcel.parcel_id,
            "holder_kind": holder_kind,
            "holder_id": holder_id,
            "kind": kind,
        },
        values={"certificate_number": certificate_number, "share_percent": Decimal(100)},
    )
    return right
