"""Reference data (administrative units, ethnic groups, land-use categories) cached for the
process: it changes only with a migration, and addresses on every answer must not cost a query."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from registries.reference.models import (
    Commune,
    FormerUnit,
    LandUseCategory,
    Province,
    UnitChange,
)
from registries.reference.service import (
    all_communes,
    ethnic_groups,
    former_units,
    land_use_categories,
    provinces,
    unit_changes,
)


@dataclass
class ReferenceCache:
    communes: dict[int, tuple[Commune, Province]] = field(default_factory=dict)
    provinces: dict[int, Province] = field(default_factory=dict)
    ethnic_groups: dict[int, str] = field(default_factory=dict)
    land_use: dict[str, LandUseCategory] = field(default_factory=dict)
    # Before the 2025 reorganisation: every unit by (level, code); the crosswalk rows into each
    # 2025 commune; how many 2025 communes each former (level, code) went into
    former_units: dict[tuple[str, int], FormerUnit] = field(default_factory=dict)
    changes_into: dict[int, list[UnitChange]] = field(default_factory=dict)
    parts_of: dict[tuple[str, int], int] = field(default_factory=dict)
    # Each 2025 province's provinces before 2025, with whether all of that province went in
    former_provinces: dict[int, list[tuple[FormerUnit, bool]]] = field(default_factory=dict)

    async def load(self, *, session: AsyncSession) -> None:
        self.communes = await all_communes(session=session)
        self.provinces = {p.code: p for p in await provinces(session=session)}
        self.ethnic_groups = await ethnic_groups(session=session)
        self.land_use = await land_use_categories(session=session)
        self.former_units = await former_units(session=session)
        into: dict[int, list[UnitChange]] = defaultdict(list)
        parts: dict[tuple[str, int], int] = defaultdict(int)
        for change in await unit_changes(session=session):
            into[change.commune_code].append(change)
            parts[(change.former_level, change.former_code)] += 1
        self.changes_into, self.parts_of = dict(into), dict(parts)
        reached: dict[int, set[int]] = defaultdict(set)  # former province → its 2025 provinces
        for commune_code, changes in self.changes_into.items():
            province = self.communes[commune_code][1].code
            for change in changes:
                former = self.former_units[(change.former_level, change.former_code)]
                reached[former.province_code].add(province)
        by_province: dict[int, list[tuple[FormerUnit, bool]]] = defaultdict(list)
        for code, targets in sorted(reached.items()):
            unit = self.former_units[("province", code)]
            for province in targets:
                by_province[province].append((unit, len(targets) == 1))
        self.former_provinces = dict(by_province)
