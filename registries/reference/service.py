"""Reference data look-ups (async), batched."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registries.reference.models import (
    BusinessLine,
    Commune,
    EthnicGroup,
    LandUseCategory,
    Province,
)


async def communes_by_code(
    *, session: AsyncSession, codes: Iterable[int]
) -> dict[int, tuple[Commune, Province]]:
    """Each commune with its province, in one statement."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Commune, Province)
        .join(Province, Province.code == Commune.province_code)
        .where(Commune.code.in_(wanted))
    )
    return {commune.code: (commune, province) for commune, province in rows}


async def all_communes(*, session: AsyncSession) -> dict[int, tuple[Commune, Province]]:
    """Every commune with its province (3,321 rows): small enough for a process-wide cache."""
    rows = await session.execute(
        select(Commune, Province).join(Province, Province.code == Commune.province_code)
    )
    return {commune.code: (commune, province) for commune, province in rows}


async def get_province(*, session: AsyncSession, code: int) -> Province | None:
    return await session.get(Province, code)


async def provinces(*, session: AsyncSession) -> list[Province]:
    return list((await session.execute(select(Province).order_by(Province.code))).scalars())


async def communes_of(*, session: AsyncSession, province_code: int) -> list[Commune]:
    rows = await session.execute(
        select(Commune).where(Commune.province_code == province_code).order_by(Commune.code)
    )
    return list(rows.scalars())


async def ethnic_groups(*, session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(EthnicGroup.code, EthnicGroup.name))
    return dict(rows.all())


async def land_use_categories(*, session: AsyncSession) -> dict[str, LandUseCategory]:
    rows = await session.execute(select(LandUseCategory))
    return {category.code: category for category in rows.scalars()}


async def business_lines(*, session: AsyncSession, level: int | None = None) -> list[BusinessLine]:
    query = select(BusinessLine).order_by(BusinessLine.code)
    if level is not None:
        query = query.where(BusinessLine.level == level)
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class ReferenceCodes:
    """Every reference code, for checking bulk loads row by row without a query per row."""

    commune_codes: frozenset[int]
    ethnic_codes: dict[str, int]  # code as text, or name case-folded → code
    vsic_codes: frozenset[str]
    land_use_codes: frozenset[str]


def reference_codes(connection: psycopg.Connection[tuple[Any, ...]]) -> ReferenceCodes:
    """Read on the loader's own (psycopg) connection, inside its transaction."""
    ethnic: dict[str, int] = {}
    for code, name in connection.execute("SELECT code, name FROM ethnic_groups"):
        ethnic[str(code)] = int(code)
        ethnic[str(name).casefold()] = int(code)
    return ReferenceCodes(
        commune_codes=frozenset(int(r[0]) for r in connection.execute("SELECT code FROM communes")),
        ethnic_codes=ethnic,
        vsic_codes=frozenset(
            str(r[0]) for r in connection.execute("SELECT code FROM business_lines")
        ),
        land_use_codes=frozenset(
            str(r[0]) for r in connection.execute("SELECT code FROM land_use_categories")
        ),
    )
