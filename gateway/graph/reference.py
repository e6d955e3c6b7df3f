"""Reference data (administrative units, ethnic groups, land-use categories) cached for the
process: it changes only with a migration, and addresses on every answer must not cost a query."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from registries.reference.models import Commune, LandUseCategory, Province
from registries.reference.service import (
    all_communes,
    ethnic_groups,
    land_use_categories,
    provinces,
)


@dataclass
class ReferenceCache:
    communes: dict[int, tuple[Commune, Province]] = field(default_factory=dict)
    provinces: dict[int, Province] = field(default_factory=dict)
    ethnic_groups: dict[int, str] = field(default_factory=dict)
    land_use: dict[str, LandUseCategory] = field(default_factory=dict)

    async def load(self, *, session: AsyncSession) -> None:
        self.communes = await all_communes(session=session)
        self.provinces = {p.code: p for p in await provinces(session=session)}
        self.ethnic_groups = await ethnic_groups(session=session)
        self.land_use = await land_use_categories(session=session)
