"""Reference data look-ups (async), batched."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registries.reference.models import (
    BusinessLine,
    Commune,
    EthnicGroup,
    FormerUnit,
    LandUseCategory,
    Province,
    UnitChange,
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


async def former_units(*, session: AsyncSession) -> dict[tuple[str, int], FormerUnit]:
    """Every unit before the 2025 reorganisation by (level, code): 10,820 rows, cached."""
    rows = await session.execute(select(FormerUnit))
    return {(unit.level, unit.code): unit for unit in rows.scalars()}


async def unit_changes(*, session: AsyncSession) -> list[UnitChange]:
    """The whole 2025 crosswalk (10,570 rows), in the order of the codes."""
    rows = await session.execute(
        select(UnitChange).order_by(
            UnitChange.commune_code, UnitChange.former_level, UnitChange.former_code
        )
    )
    return list(rows.scalars())


_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền, sắc, ngã, hỏi, nặng


@lru_cache(maxsize=65536)  # a load keys each district and province name once, not per commune
def unit_name_key(name: str) -> str:
    """A unit's name as compared: case, spacing, Unicode form, the apostrophe and dash forms
    and where the tone mark sits ("Hoà" or "Hòa", "Thuỷ" or "Thủy") make no difference."""
    name = name.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    words = []
    for word in unicodedata.normalize("NFD", " ".join(name.split())).casefold().split(" "):
        tones = "".join(sorted(c for c in word if c in _TONES))
        words.append("".join(c for c in word if c not in _TONES) + tones)
    return unicodedata.normalize("NFC", " ".join(words))


@dataclass(frozen=True)
class FormerCommune:
    """A commune before the 2025 reorganisation and the 2025 communes it went into."""

    code: int
    name: str
    district: str
    province: str
    into: tuple[int, ...]  # 2025 communes; several: it was split between them
    population: int | None = None  # of those, the one that took its whole population
    effective_on: date | None = None


@dataclass(frozen=True)
class ReferenceCodes:
    """Every reference code, for checking bulk loads row by row without a query per row."""

    commune_codes: frozenset[int]
    ethnic_codes: dict[str, int]  # code as text, or name case-folded → code
    vsic_codes: frozenset[str]
    land_use_codes: frozenset[str]
    # Communes before the 2025 reorganisation, by code, and their codes by name: by
    # (commune, district, province) and by (commune, district), each `unit_name_key`ed
    former_communes: Mapping[int, FormerCommune] = field(default_factory=dict)
    former_names: Mapping[tuple[str, ...], tuple[int, ...]] = field(default_factory=dict)


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
        **_former_communes(connection),
    )


def _former_communes(connection: psycopg.Connection[tuple[Any, ...]]) -> dict[str, Any]:
    return former_reference(
        connection.execute(
            "SELECT level, code, name, province_code, district_code FROM former_units"
        ).fetchall(),
        connection.execute(
            "SELECT former_level, former_code, commune_code, population, effective_on "
            "FROM unit_changes ORDER BY former_code, commune_code"
        ).fetchall(),
    )


def former_reference(
    units: Iterable[Sequence[Any]], changes: Iterable[Sequence[Any]]
) -> dict[str, Any]:
    """`ReferenceCodes.former_communes` and `former_names` from the former units (level, code,
    name, province code, district code) and the crosswalk rows (former level, former code,
    2025 commune, took the whole population, effective on)."""
    into: dict[int, list[int]] = defaultdict(list)
    population: dict[int, list[int]] = defaultdict(list)
    effective: dict[int, date] = {}
    for level, former, commune, whole_population, effective_on in changes:
        if level != "commune":
            continue
        into[former].append(commune)
        effective[former] = effective_on
        if whole_population:
            population[former].append(commune)
    names_of: dict[tuple[str, int], str] = {}
    communes_rows = []
    for level, code, name, province_code, district_code in units:
        names_of[(level, code)] = name
        if level == "commune":
            communes_rows.append((code, name, province_code, district_code))
    communes: dict[int, FormerCommune] = {}
    names: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for code, name, province_code, district_code in sorted(communes_rows):
        district = names_of[("district", district_code)]
        province = names_of[("province", province_code)]
        took_population = population.get(code, [])
        communes[code] = FormerCommune(
            code=code,
            name=name,
            district=district,
            province=province,
            into=tuple(into.get(code, ())),
            population=took_population[0] if len(took_population) == 1 else None,
            effective_on=effective.get(code),
        )
        keys = (unit_name_key(name), unit_name_key(district))
        names[(*keys, unit_name_key(province))].append(code)
        names[keys].append(code)
    return {
        "former_communes": communes,
        "former_names": {key: tuple(codes) for key, codes in names.items()},
    }
