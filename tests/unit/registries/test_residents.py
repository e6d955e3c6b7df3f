"""Residents and households: history, as-of reads, batch fetch, database-enforced rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registries.history import VIETNAM_TIME, Reach, current_with_reach
from registries.residents.models import Household, Resident
from registries.residents.service import (
    get_households,
    get_resident,
    get_residents,
    household_members,
)
from tests.factories import make_household, make_resident, new_personal_id

JAN = datetime(2024, 1, 1, 8, tzinfo=VIETNAM_TIME)
JUN = datetime(2024, 6, 1, 8, tzinfo=VIETNAM_TIME)


class StatementCounter:
    def __init__(self, session: AsyncSession) -> None:
        self.engine = session.bind.engine if session.bind is not None else None
        self.statements: list[str] = []

    def __enter__(self) -> StatementCounter:
        assert self.engine is not None
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.engine is not None
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)


async def test_a_change_closes_one_version_and_opens_another(session: AsyncSession) -> None:
    resident = await make_resident(session, effective=JAN, permanent_address_line="12 Trần Phú")
    personal_id = resident.personal_id
    await make_resident(
        session,
        personal_id=personal_id,
        effective=JUN,
        permanent_address_line="7 Lê Duẩn",
    )
    versions = (
        (
            await session.execute(
                select(Resident)
                .where(Resident.personal_id == personal_id)
                .order_by(Resident.valid_from)
            )
        )
        .scalars()
        .all()
    )
    assert len(versions) == 2
    await session.refresh(versions[0])
    assert versions[0].valid_to == JUN == versions[1].valid_from
    before = await get_resident(session=session, personal_id=personal_id, as_of=date(2024, 3, 1))
    after = await get_resident(session=session, personal_id=personal_id, as_of=date(2024, 7, 1))
    now = await get_resident(session=session, personal_id=personal_id)
    too_early = await get_resident(
        session=session, personal_id=personal_id, as_of=date(2023, 12, 31)
    )
    assert before is not None and before.permanent_address_line == "12 Trần Phú"
    assert after is not None and after.permanent_address_line == "7 Lê Duẩn"
    assert now is not None and now.version_id == after.version_id
    assert too_early is None


async def test_as_of_the_day_of_the_change_sees_the_new_version(session: AsyncSession) -> None:
    resident = await make_resident(session, effective=JAN, full_name="Trần Thị Bình")
    await make_resident(
        session, personal_id=resident.personal_id, effective=JUN, full_name="Trần Thị Bình An"
    )
    on_the_day = await get_resident(
        session=session, personal_id=resident.personal_id, as_of=JUN.date()
    )
    the_day_before = await get_resident(
        session=session, personal_id=resident.personal_id, as_of=JUN.date() - timedelta(days=1)
    )
    assert on_the_day is not None and on_the_day.full_name == "Trần Thị Bình An"
    assert the_day_before is not None and the_day_before.full_name == "Trần Thị Bình"


async def test_back_dating_before_the_open_version_is_refused(session: AsyncSession) -> None:
    resident = await make_resident(session, effective=JUN)
    with pytest.raises(ValueError, match="predates the open version"):
        await make_resident(
            session, personal_id=resident.personal_id, effective=JAN, full_name="Lê Văn C"
        )


async def test_batch_fetch_of_100_keeps_order_and_is_one_statement(session: AsyncSession) -> None:
    residents = [await make_resident(session, full_name=f"Phạm Văn {i}") for i in range(90)]
    missing = [new_personal_id() for _ in range(10)]
    asked = [r.personal_id for r in reversed(residents)]
    asked[5:5] = missing
    assert len(asked) == 100
    with StatementCounter(session) as counter:
        found = await get_residents(session=session, personal_ids=asked)
    assert len(counter.statements) == 1
    assert [r.personal_id if r else None for r in found] == [
        a if a not in missing else None for a in asked
    ]


async def test_duplicate_keys_are_answered_in_place(session: AsyncSession) -> None:
    resident = await make_resident(session)
    found = await get_residents(
        session=session, personal_ids=[resident.personal_id, resident.personal_id]
    )
    assert [r.personal_id if r else None for r in found] == [resident.personal_id] * 2
    assert await get_residents(session=session, personal_ids=[]) == []


async def test_household_members_head_first(session: AsyncSession) -> None:
    head = await make_resident(session, full_name="Nguyễn Văn Hùng", birth_date=date(1970, 1, 1))
    household = await make_household(session, head=head)
    child = await make_resident(
        session,
        full_name="Nguyễn Thị Mai",
        sex="female",
        birth_date=date(2005, 5, 5),
        household_id=household.household_id,
        relationship_to_head="daughter",
        father_id=head.personal_id,
    )
    await make_resident(
        session,
        personal_id=head.personal_id,
        full_name=head.full_name,
        birth_date=head.birth_date,
        household_id=household.household_id,
        relationship_to_head="head",
    )
    members = await household_members(session=session, household_ids=[household.household_id])
    assert [m.personal_id for m in members[household.household_id]] == [
        head.personal_id,
        child.personal_id,
    ]
    fetched = await get_households(session=session, household_ids=[household.household_id, "HKX"])
    assert fetched[0] is not None and fetched[0].head_id == head.personal_id
    assert fetched[1] is None


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"full_name": "Nguye\u0302\u0303n Va\u0306n A"}, "full_name_nfc"),
        ({"sex": "other"}, "ck_residents_sex"),
        ({"marital_status": "complicated"}, "marital_status"),
        ({"deceased_on": date(2020, 1, 1)}, "deceased_on_only_if_deceased"),
    ],
)
async def test_the_database_refuses_rows_breaking_registry_rules(
    session: AsyncSession, overrides: dict[str, Any], constraint: str
) -> None:
    values: dict[str, Any] = {
        "personal_id": new_personal_id(),
        "full_name": "Nguyễn Văn A",
        "birth_date": date(1985, 3, 2),
        "sex": "male",
        "ethnicity_code": 1,
        "nationality": "VN",
        "deceased": False,
        **overrides,
    }
    session.add(Resident(**values))
    with pytest.raises(IntegrityError, match=constraint):
        await session.flush()


async def test_a_malformed_personal_id_is_refused_by_the_database(session: AsyncSession) -> None:
    session.add(
        Resident(
            personal_id="04808500012X",
            full_name="A",
            birth_date=date(1985, 1, 1),
            sex="male",
            ethnicity_code=1,
            nationality="VN",
            deceased=False,
        )
    )
    with pytest.raises(IntegrityError, match="personal_id_format"):
        await session.flush()


async def test_current_with_reach_joins_current_versions_only(session: AsyncSession) -> None:
    head = await make_resident(session, effective=JAN, full_name="Lê Văn Chủ")
    household = await make_household(session, head=head)
    member = await make_resident(
        session, effective=JAN, household_id=household.household_id, full_name="Lê Thị Cũ"
    )
    await make_resident(  # a newer version of the member: only it is read
        session,
        personal_id=member.personal_id,
        effective=JUN,
        household_id=household.household_id,
        full_name="Lê Thị Mới",
    )
    loner = await make_resident(session, effective=JAN, household_id=None)
    reaches = [
        Reach("s", Resident, "personal_id"),
        Reach("h", Household, "household_id", parent="s", parent_attribute="household_id"),
        Reach("hh", Resident, "personal_id", parent="h", parent_attribute="head_id"),
    ]
    one = (
        (
            await session.execute(
                current_with_reach(reaches, many=False), {"key": member.personal_id}
            )
        )
        .mappings()
        .all()
    )
    assert [(r["s_full_name"], r["h_household_id"], r["hh_full_name"]) for r in one] == [
        ("Lê Thị Mới", household.household_id, "Lê Văn Chủ")
    ]
    many = (
        (
            await session.execute(
                current_with_reach(reaches, many=True),
                {"keys": [member.personal_id, loner.personal_id, new_personal_id()]},
            )
        )
        .mappings()
        .all()
    )
    by_id = {r["s_personal_id"]: r for r in many}
    assert set(by_id) == {member.personal_id, loner.personal_id}
    assert by_id[loner.personal_id]["h_household_id"] is None  # nothing reached: nulls
