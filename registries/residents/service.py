"""Population registry queries (async). Every batch read is one SQL statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registries.history import fetch_by_keys, versions_at
from registries.residents.models import Household, Resident

AsOf = date | datetime | None


async def get_residents(
    *, session: AsyncSession, personal_ids: Sequence[str], as_of: AsOf = None
) -> list[Resident | None]:
    return await fetch_by_keys(
        session=session, model=Resident, key=Resident.personal_id, keys=personal_ids, as_of=as_of
    )


async def get_resident(
    *, session: AsyncSession, personal_id: str, as_of: AsOf = None
) -> Resident | None:
    return (await get_residents(session=session, personal_ids=[personal_id], as_of=as_of))[0]


async def get_households(
    *, session: AsyncSession, household_ids: Sequence[str], as_of: AsOf = None
) -> list[Household | None]:
    return await fetch_by_keys(
        session=session,
        model=Household,
        key=Household.household_id,
        keys=household_ids,
        as_of=as_of,
    )


async def household_members(
    *, session: AsyncSession, household_ids: Sequence[str], as_of: AsOf = None
) -> dict[str, list[Resident]]:
    """Members of each household (head first, then by birth date), in one statement."""
    members: dict[str, list[Resident]] = defaultdict(list)
    if not household_ids:
        return members
    rows = await session.execute(
        select(Resident)
        .where(Resident.household_id.in_(set(household_ids)), versions_at(Resident, as_of))
        .order_by(
            Resident.household_id,
            (Resident.relationship_to_head != "head"),
            Resident.birth_date,
            Resident.personal_id,
        )
    )
    for resident in rows.scalars():
        if resident.household_id is not None:
            members[resident.household_id].append(resident)
    return members


async def first_recorded(*, session: AsyncSession, personal_id: str) -> datetime | None:
    """When the registry first recorded this person (None: never): before it, the key was
    absent, and a lookup of it was an attempt on no one."""
    found = await session.execute(
        select(func.min(Resident.recorded_at)).where(Resident.personal_id == personal_id)
    )
    return found.scalar_one()
