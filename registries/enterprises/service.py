"""Enterprise registry queries (async). Every batch read is one SQL statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registries.enterprises.models import (
    Enterprise,
    EnterpriseBusinessLine,
    LegalRepresentative,
    Owner,
)
from registries.history import fetch_by_keys, fetch_children, versions_at
from registries.reference.models import BusinessLine

AsOf = date | datetime | None


async def get_enterprises(
    *, session: AsyncSession, enterprise_codes: Sequence[str], as_of: AsOf = None
) -> list[Enterprise | None]:
    return await fetch_by_keys(
        session=session,
        model=Enterprise,
        key=Enterprise.enterprise_code,
        keys=enterprise_codes,
        as_of=as_of,
    )


async def representatives_of(
    *, session: AsyncSession, enterprise_codes: Sequence[str], as_of: AsOf = None
) -> dict[str, list[LegalRepresentative]]:
    return await fetch_children(
        session=session,
        model=LegalRepresentative,
        parent_key=LegalRepresentative.enterprise_code,
        parent_keys=enterprise_codes,
        order_by=(LegalRepresentative.personal_id,),
        as_of=as_of,
    )


async def enterprises_represented_by(
    *, session: AsyncSession, personal_ids: Sequence[str], as_of: AsOf = None
) -> dict[str, list[tuple[Enterprise, str]]]:
    """For each resident, the enterprises they legally represent, with their title."""
    found: dict[str, list[tuple[Enterprise, str]]] = defaultdict(list)
    if not personal_ids:
        return found
    rows = await session.execute(
        select(LegalRepresentative.personal_id, LegalRepresentative.title, Enterprise)
        .join(Enterprise, Enterprise.enterprise_code == LegalRepresentative.enterprise_code)
        .where(
            LegalRepresentative.personal_id.in_(set(personal_ids)),
            versions_at(LegalRepresentative, as_of),
            versions_at(Enterprise, as_of),
        )
        .order_by(LegalRepresentative.personal_id, Enterprise.enterprise_code)
    )
    for personal_id, title, enterprise in rows:
        found[personal_id].append((enterprise, title))
    return found


async def owners_of(
    *, session: AsyncSession, enterprise_codes: Sequence[str], as_of: AsOf = None
) -> dict[str, list[Owner]]:
    return await fetch_children(
        session=session,
        model=Owner,
        parent_key=Owner.enterprise_code,
        parent_keys=enterprise_codes,
        order_by=(Owner.share_percent.desc(), Owner.owner_id),
        as_of=as_of,
    )


async def business_lines_of(
    *, session: AsyncSession, enterprise_codes: Sequence[str], as_of: AsOf = None
) -> dict[str, list[tuple[EnterpriseBusinessLine, BusinessLine]]]:
    """Each enterprise's VSIC lines with their names, the main line first."""
    found: dict[str, list[tuple[EnterpriseBusinessLine, BusinessLine]]] = defaultdict(list)
    if not enterprise_codes:
        return found
    rows = await session.execute(
        select(EnterpriseBusinessLine, BusinessLine)
        .join(BusinessLine, BusinessLine.code == EnterpriseBusinessLine.vsic_code)
        .where(
            EnterpriseBusinessLine.enterprise_code.in_(set(enterprise_codes)),
            versions_at(EnterpriseBusinessLine, as_of),
        )
        .order_by(
            EnterpriseBusinessLine.enterprise_code,
            EnterpriseBusinessLine.is_main.desc(),
            EnterpriseBusinessLine.vsic_code,
        )
    )
    for line, business_line in rows:
        found[line.enterprise_code].append((line, business_line))
    return found
