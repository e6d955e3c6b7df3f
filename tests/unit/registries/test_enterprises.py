"""Enterprises, their representatives and business lines; cross links both ways."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registries.enterprises.models import Enterprise, EnterpriseBusinessLine
from registries.enterprises.service import (
    business_lines_of,
    enterprises_represented_by,
    get_enterprises,
    representatives_of,
)
from tests.factories import (
    make_business_line,
    make_enterprise,
    make_representative,
    make_resident,
    new_enterprise_code,
)


async def test_charter_capital_is_exact(session: AsyncSession) -> None:
    capital = Decimal("123456789012345678")
    enterprise = await make_enterprise(session, charter_capital=capital)
    [fetched] = await get_enterprises(
        session=session, enterprise_codes=[enterprise.enterprise_code]
    )
    assert fetched is not None
    assert fetched.charter_capital == capital


async def test_representatives_both_ways(session: AsyncSession) -> None:
    director = await make_resident(session, full_name="Lê Thị Hoa", sex="female")
    other = await make_resident(session, full_name="Võ Văn Tâm")
    first = await make_enterprise(session, name="Công ty Cổ phần Ngũ Hành Sơn")
    second = await make_enterprise(session, name="Công ty TNHH Mỹ Khê")
    await make_representative(session, enterprise=first, resident=director)
    await make_representative(session, enterprise=second, resident=director, title="Chủ tịch")
    await make_representative(session, enterprise=second, resident=other)
    by_enterprise = await representatives_of(
        session=session, enterprise_codes=[first.enterprise_code, second.enterprise_code]
    )
    assert [r.personal_id for r in by_enterprise[first.enterprise_code]] == [director.personal_id]
    assert {r.personal_id for r in by_enterprise[second.enterprise_code]} == {
        director.personal_id,
        other.personal_id,
    }
    by_resident = await enterprises_represented_by(
        session=session, personal_ids=[director.personal_id, other.personal_id]
    )
    assert {(e.enterprise_code, title) for e, title in by_resident[director.personal_id]} == {
        (first.enterprise_code, "Giám đốc"),
        (second.enterprise_code, "Chủ tịch"),
    }
    assert [e.enterprise_code for e, _ in by_resident[other.personal_id]] == [
        second.enterprise_code
    ]


async def test_business_lines_main_first_and_only_one_main(session: AsyncSession) -> None:
    enterprise = await make_enterprise(session)
    await make_business_line(session, enterprise=enterprise, vsic_code="46900")
    await make_business_line(session, enterprise=enterprise, vsic_code="62010", is_main=True)
    lines = await business_lines_of(session=session, enterprise_codes=[enterprise.enterprise_code])
    assert [
        (line.vsic_code, line.is_main, bl.name) for line, bl in lines[enterprise.enterprise_code]
    ] == [
        ("62010", True, "Lập trình máy vi tính"),
        ("46900", False, "Bán buôn tổng hợp"),
    ]
    session.add(
        EnterpriseBusinessLine(
            enterprise_code=enterprise.enterprise_code, vsic_code="73100", is_main=True
        )
    )
    with pytest.raises(IntegrityError, match="uq_enterprise_business_lines_one_main"):
        await session.flush()


async def test_unknown_vsic_code_is_refused(session: AsyncSession) -> None:
    enterprise = await make_enterprise(session)
    session.add(
        EnterpriseBusinessLine(enterprise_code=enterprise.enterprise_code, vsic_code="99999")
    )
    with pytest.raises(IntegrityError, match="business_lines"):
        await session.flush()


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "sleeping"}, "ck_enterprises_status"),
        ({"enterprise_type": "llc"}, "ck_enterprises_enterprise_type"),
        ({"charter_capital": Decimal(-1)}, "charter_capital_not_negative"),
        ({"enterprise_code": "12345"}, "code_format"),
    ],
)
async def test_the_database_refuses_invalid_enterprises(
    session: AsyncSession, overrides: dict[str, object], constraint: str
) -> None:
    values: dict[str, object] = {
        "enterprise_code": new_enterprise_code(),
        "name": "Công ty TNHH A",
        "enterprise_type": "tnhh_1tv",
        "status": "active",
        "registered_on": date(2020, 1, 1),
        "charter_capital": Decimal(1),
        "head_office_commune_code": 20242,
        "head_office_address_line": "1 Bạch Đằng",
        **overrides,
    }
    session.add(Enterprise(**values))
    with pytest.raises(IntegrityError, match=constraint):
        await session.flush()
