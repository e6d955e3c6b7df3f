"""Reference data seeded by the registries migration from maintained sources."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registries.reference.models import BusinessLine, Commune, EthnicGroup, Province
from registries.reference.service import (
    business_lines,
    communes_by_code,
    communes_of,
    ethnic_groups,
    land_use_categories,
    provinces,
)


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_administrative_units_after_the_2025_reorganisation(session: AsyncSession) -> None:
    assert await _count(session, Province) == 34
    assert await _count(session, Commune) == 3321
    all_provinces = await provinces(session=session)
    da_nang = next(p for p in all_provinces if p.code == 48)
    assert da_nang.name == "Thành phố Đà Nẵng"
    assert da_nang.division_type == "thành phố trung ương"
    found = await communes_by_code(session=session, codes=[20242, 99999999])
    commune, province = found[20242]
    assert (commune.name, province.code) == ("Phường Hải Châu", 48)
    assert 99999999 not in found
    assert all(c.province_code == 48 for c in await communes_of(session=session, province_code=48))


async def test_ethnic_groups_land_use_and_vsic(session: AsyncSession) -> None:
    groups = await ethnic_groups(session=session)
    assert len(groups) == 54
    assert (groups[1], groups[54]) == ("Kinh", "Rơ-măm")
    assert await _count(session, EthnicGroup) == 54
    categories = await land_use_categories(session=session)
    assert {"LUC", "LUK", "ONT", "ODT", "CLN", "RSX"} <= set(categories)
    assert categories["ODT"].name == "Đất ở tại đô thị"
    sections = await business_lines(session=session, level=1)
    assert [s.code for s in sections] == [chr(c) for c in range(ord("A"), ord("U") + 1)]
    level5 = await business_lines(session=session, level=5)
    assert len(level5) >= 40
    assert all(len(line.code) == 5 and line.code.isdigit() for line in level5)
    assert await _count(session, BusinessLine) == len(sections) + len(level5)
