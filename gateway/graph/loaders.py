"""Per-request DataLoaders over the registries' batch queries: whatever the number of subjects
on a level of the answer, each relation costs one SQL statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from gateway.corrections.service import open_disputes
from registries.enterprises import service as enterprises
from registries.parcels import service as parcels
from registries.residents import service as residents

if TYPE_CHECKING:
    from gateway.graph.context import RequestDatabase

AsOf = date | None
Key = tuple[str, AsOf]
Fetch = Callable[..., Awaitable[Sequence[Any] | Mapping[str, Any]]]


def _loader(database: RequestDatabase, fetch: Fetch, keyword: str) -> DataLoader[Key, Any]:
    """Keys are (business key, asOf); one statement per distinct asOf in a batch. A fetch that
    answers a mapping (children per parent) gives [] to parents without any."""

    async def batch(keys: list[Key]) -> list[Any]:
        grouped: dict[AsOf, list[str]] = defaultdict(list)
        for key, as_of in keys:
            grouped[as_of].append(key)
        found: dict[Hashable, Any] = {}
        for as_of, group in grouped.items():
            result = await database.read(partial(fetch, as_of=as_of, **{keyword: group}))
            values: Sequence[Any] = (
                [result.get(key, []) for key in group] if isinstance(result, Mapping) else result
            )
            found.update({(key, as_of): value for key, value in zip(group, values, strict=True)})
        return [found[key] for key in keys]

    return DataLoader(batch)


class Loaders:
    def __init__(self, database: RequestDatabase) -> None:
        self.residents = _loader(database, residents.get_residents, "personal_ids")
        self.households = _loader(database, residents.get_households, "household_ids")
        self.members = _loader(database, residents.household_members, "household_ids")
        self.children = _loader(database, residents.children_of, "personal_ids")
        self.enterprises = _loader(database, enterprises.get_enterprises, "enterprise_codes")
        self.representatives = _loader(database, enterprises.representatives_of, "enterprise_codes")
        self.represented = _loader(database, enterprises.enterprises_represented_by, "personal_ids")
        self.business_lines = _loader(database, enterprises.business_lines_of, "enterprise_codes")
        self.parcels = _loader(database, parcels.get_parcels, "parcel_ids")
        self.rights = _loader(database, parcels.rights_of, "parcel_ids")
        self.resident_parcels = _loader(database, _held_by("resident"), "holder_ids")
        # residents' disputed fields (docs/corrections.md): one statement per request
        self.disputes = _loader(database, _disputes_of("Resident"), "subject_ids")


def _held_by(holder_kind: str) -> Fetch:
    async def fetch(**kwargs: Any) -> Mapping[str, Any]:
        return await parcels.parcels_held_by(holder_kind=holder_kind, **kwargs)

    return fetch


def _disputes_of(subject_type: str) -> Fetch:
    async def fetch(*, session: Any, as_of: AsOf, subject_ids: Sequence[str]) -> Mapping[str, Any]:
        return await open_disputes(
            session=session, subject_type=subject_type, subject_ids=subject_ids
        )

    return fetch
