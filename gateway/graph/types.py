"""GraphQL types of the registries, kept apart from the registry models they present.

Every field of a subject type that carries registry data is `guarded()`: the subject's grant
(one policy decision for all the fields the operation selects on it) gives it, masks it or
refuses it. `id`/`code` (which the caller already holds) and `recordVersion` are not personal
data and come with any visible subject. Relations to other subjects decide those subjects on
their own, with the relation as `via`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.graph.guard import Grant, Guarded
from gateway.graph.reference import ReferenceCache
from gateway.selection import requested_fields, sub_selections
from registries.enterprises.models import Enterprise as EnterpriseRecord
from registries.history import Versioned
from registries.parcels.models import Parcel as ParcelRecord
from registries.parcels.models import ParcelRight as ParcelRightRecord
from registries.parcels.service import parcel_geojson
from registries.residents.models import Household as HouseholdRecord
from registries.residents.models import Resident as ResidentRecord

if TYPE_CHECKING:
    from gateway.graph.context import GatewayContext


def guarded(**kwargs: Any) -> Any:
    """A policy-controlled field: the parent subject's grant decides it."""
    return strawberry.field(extensions=[Guarded()], **kwargs)


def context_of(info: Info) -> GatewayContext:
    context: GatewayContext = info.context
    return context


@strawberry.type(description="When the registry recorded the version that answered.")
class RecordVersion:
    valid_from: datetime
    valid_to: datetime | None
    recorded_at: datetime


def record_version(record: Versioned) -> RecordVersion:
    return RecordVersion(
        valid_from=record.valid_from, valid_to=record.valid_to, recorded_at=record.recorded_at
    )


@strawberry.type(description="An address on the 2025 administrative units (34 provinces).")
class Address:
    commune_code: int | None
    commune_name: str | None
    province_code: int | None
    province_name: str | None
    line: str | None

    @strawberry.field(description="The address as written on forms: line, commune, province.")
    def full_address(self) -> str:
        parts = (self.line, self.commune_name, self.province_name)
        return ", ".join(part for part in parts if part)


def address(
    reference: ReferenceCache, commune_code: int | None, line: str | None
) -> Address | None:
    if commune_code is None and not line:
        return None
    commune, province = (
        reference.communes.get(commune_code, (None, None)) if commune_code else (None, None)
    )
    return Address(
        commune_code=commune_code,
        commune_name=commune.name if commune else None,
        province_code=province.code if province else None,
        province_name=province.name if province else None,
        line=line,
    )


Subject = TypeVar("Subject", "Resident", "Household", "Enterprise", "Parcel")
# Each subject type's business key on its registry record, and the loader reading it by key.
_KEY_ATTRIBUTE = {
    "Resident": "personal_id",
    "Household": "household_id",
    "Enterprise": "enterprise_code",
    "Parcel": "parcel_id",
}
_LOADER = {
    "Resident": "residents",
    "Household": "households",
    "Enterprise": "enterprises",
    "Parcel": "parcels",
}


async def decide_subjects(
    info: Info,
    cls: type[Subject],
    records: Sequence[Any | None],
    *,
    via: str | None,
    as_of: date | None,
    selections: Any = None,
) -> list[Subject | None]:
    """Subjects reached by a field: one decision each, covering what the operation selects on
    them (below `selections`, by default this field's), decided together; absent ones null."""
    type_name = cls.__name__
    wanted = selections if selections is not None else info.selected_fields[0].selections
    present = [r for r in records if r is not None]
    keys = [getattr(r, _KEY_ATTRIBUTE[type_name]) for r in present]
    grants = await context_of(info).guard.decide_many(
        type_name, keys, requested_fields(wanted, type_name), via
    )
    by_key = dict(zip(keys, grants, strict=True))
    return [
        cls(record=r, grant=by_key[getattr(r, _KEY_ATTRIBUTE[type_name])], as_of=as_of)
        if r is not None
        else None
        for r in records
    ]


async def reach(
    info: Info,
    cls: type[Subject],
    key: str,
    *,
    via: str | None,
    as_of: date | None,
    record: Any = None,
) -> Subject | None:
    """One subject reached by this field (read by key unless its record is at hand): null when
    absent, FORBIDDEN at this field when no field of it may be seen."""
    if record is None:
        loader = getattr(context_of(info).loaders, _LOADER[cls.__name__])
        record = await loader.load((key, as_of))
    (subject,) = await decide_subjects(info, cls, [record], via=via, as_of=as_of)
    if subject is not None:
        subject.grant.check_subject(info.field_name)
    return subject


def visible(subjects: list[Subject | None], field_name: str) -> list[Subject]:
    """A list field whose every element must be visible (FORBIDDEN at the field otherwise)."""
    present = [s for s in subjects if s is not None]
    for subject in present:
        subject.grant.check_subject(field_name)
    return present


@strawberry.type(description="A person in the national population registry (CSDLQG về dân cư).")
class Resident:
    record: strawberry.Private[ResidentRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @strawberry.field(description="12-digit personal ID (số định danh cá nhân).")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.personal_id)

    @strawberry.field
    def record_version(self) -> RecordVersion:
        return record_version(self.record)

    @guarded()
    def full_name(self) -> str | None:
        return self.record.full_name

    @guarded(description="ISO 8601 date; the year alone when the agreement masks it.")
    def birth_date(self) -> str | None:
        return self.record.birth_date.isoformat()

    @guarded()
    def sex(self) -> str | None:
        return self.record.sex

    @guarded(description="Ethnic group (dân tộc), by name.")
    def ethnicity(self, info: Info) -> str | None:
        return context_of(info).services.reference.ethnic_groups.get(self.record.ethnicity_code)

    @guarded()
    def religion(self) -> str | None:
        return self.record.religion

    @guarded(description="ISO 3166-1 alpha-2 code.")
    def nationality(self) -> str | None:
        return self.record.nationality

    @guarded()
    def place_of_birth(self) -> str | None:
        return self.record.place_of_birth

    @guarded()
    def hometown(self) -> str | None:
        return self.record.hometown

    @guarded(description="Nơi thường trú.")
    def permanent_address(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference,
            self.record.permanent_commune_code,
            self.record.permanent_address_line,
        )

    @guarded(description="Nơi tạm trú.")
    def temporary_address(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference,
            self.record.temporary_commune_code,
            self.record.temporary_address_line,
        )

    @guarded()
    def relationship_to_head(self) -> str | None:
        return self.record.relationship_to_head

    @guarded()
    def marital_status(self) -> str | None:
        return self.record.marital_status

    @guarded()
    def father_id(self) -> str | None:
        return self.record.father_id

    @guarded()
    def mother_id(self) -> str | None:
        return self.record.mother_id

    @guarded()
    def spouse_id(self) -> str | None:
        return self.record.spouse_id

    @guarded()
    def deceased(self) -> bool | None:
        return self.record.deceased

    @guarded()
    async def household(self, info: Info) -> Household | None:
        if self.record.household_id is None:
            return None
        return await reach(
            info, Household, self.record.household_id, via="Resident.household", as_of=self.as_of
        )

    @guarded(description="Parcels on which this person holds a right.")
    async def parcels(self, info: Info) -> list[Parcel] | None:
        held = await context_of(info).loaders.resident_parcels.load(
            (self.record.personal_id, self.as_of)
        )
        parcels = await decide_subjects(
            info, Parcel, [parcel for parcel, _ in held], via="Resident.parcels", as_of=self.as_of
        )
        return visible(parcels, "parcels")

    @guarded(description="Enterprises this person legally represents.")
    async def represented_enterprises(self, info: Info) -> list[Representation] | None:
        context = context_of(info)
        represented = await context.loaders.represented.load((self.record.personal_id, self.as_of))
        return [
            Representation(enterprise_record=enterprise, title=title, as_of=self.as_of)
            for enterprise, title in represented
        ]


@strawberry.type(description="An enterprise a resident represents, and as what.")
class Representation:
    enterprise_record: strawberry.Private[EnterpriseRecord]
    as_of: strawberry.Private[date | None]
    title: str

    @strawberry.field
    async def enterprise(self, info: Info) -> Enterprise | None:
        return await reach(
            info,
            Enterprise,
            self.enterprise_record.enterprise_code,
            via="Resident.representedEnterprises",
            as_of=self.as_of,
            record=self.enterprise_record,
        )


@strawberry.type(description="A household (hộ gia đình) as registered for residence.")
class Household:
    record: strawberry.Private[HouseholdRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.household_id)

    @strawberry.field
    def record_version(self) -> RecordVersion:
        return record_version(self.record)

    @guarded(description="Personal ID of the head of household (chủ hộ).")
    def head_id(self) -> str | None:
        return self.record.head_id

    @guarded()
    async def head(self, info: Info) -> Resident | None:
        return await reach(
            info, Resident, self.record.head_id, via="Household.head", as_of=self.as_of
        )

    @guarded()
    def address(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference, self.record.commune_code, self.record.address_line
        )

    @guarded(description="Members, the head first.")
    async def members(self, info: Info) -> list[HouseholdMember] | None:
        context = context_of(info)
        records = await context.loaders.members.load((self.record.household_id, self.as_of))
        selections = sub_selections(
            list(info.selected_fields[0].selections), "HouseholdMember", "resident"
        )
        residents = await decide_subjects(
            info,
            Resident,
            records,
            via="Household.members",
            as_of=self.as_of,
            selections=selections,
        )
        return [
            HouseholdMember(member=resident, relationship_to_head=record.relationship_to_head)
            for resident, record in zip(residents, records, strict=True)
            if resident is not None
        ]


@strawberry.type
class HouseholdMember:
    member: strawberry.Private[Resident]
    relationship_to_head: str | None

    @strawberry.field
    def resident(self) -> Resident | None:
        self.member.grant.check_subject("resident")
        return self.member


@strawberry.type(description="An enterprise in the national business registry.")
class Enterprise:
    record: strawberry.Private[EnterpriseRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @strawberry.field(description="Enterprise code (mã số doanh nghiệp), 10 or 13 digits.")
    def code(self) -> strawberry.ID:
        return strawberry.ID(self.record.enterprise_code)

    @strawberry.field
    def record_version(self) -> RecordVersion:
        return record_version(self.record)

    @guarded()
    def name(self) -> str | None:
        return self.record.name

    @guarded()
    def foreign_name(self) -> str | None:
        return self.record.foreign_name

    @guarded()
    def short_name(self) -> str | None:
        return self.record.short_name

    @guarded(description="Legal form, e.g. tnhh_1tv, co_phan.")
    def type(self) -> str | None:
        return self.record.enterprise_type

    @guarded()
    def status(self) -> str | None:
        return self.record.status

    @guarded()
    def registered_on(self) -> date | None:
        return self.record.registered_on

    @guarded(description="Charter capital in VND.")
    def charter_capital(self) -> Decimal | None:
        return self.record.charter_capital

    @guarded()
    def head_office(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference,
            self.record.head_office_commune_code,
            self.record.head_office_address_line,
        )

    @guarded()
    async def legal_representatives(self, info: Info) -> list[LegalRepresentative] | None:
        context = context_of(info)
        links = await context.loaders.representatives.load(
            (self.record.enterprise_code, self.as_of)
        )
        records = await context.loaders.residents.load_many(
            [(link.personal_id, self.as_of) for link in links]
        )
        selections = sub_selections(
            list(info.selected_fields[0].selections), "LegalRepresentative", "resident"
        )
        residents = await decide_subjects(
            info,
            Resident,
            list(records),
            via="Enterprise.legalRepresentatives",
            as_of=self.as_of,
            selections=selections,
        )
        return [
            LegalRepresentative(person=resident, title=link.title)
            for resident, link in zip(residents, links, strict=True)
        ]

    @guarded(description="VSIC 2018 business lines, the main line first.")
    async def business_lines(self, info: Info) -> list[BusinessLineEntry] | None:
        lines = await context_of(info).loaders.business_lines.load(
            (self.record.enterprise_code, self.as_of)
        )
        return [
            BusinessLineEntry(code=line.vsic_code, name=vsic.name, main=line.is_main)
            for line, vsic in lines
        ]


@strawberry.type
class LegalRepresentative:
    person: strawberry.Private[Resident | None]
    title: str

    @strawberry.field
    def resident(self) -> Resident | None:
        if self.person is not None:
            self.person.grant.check_subject("resident")
        return self.person


@strawberry.type
class BusinessLineEntry:
    code: str
    name: str
    main: bool


@strawberry.type
class LandUse:
    code: str
    name: str
    group: str


RightHolder = Annotated[Resident | Enterprise, strawberry.union("RightHolder")]


@strawberry.type(description="A right on a parcel (quyền sử dụng đất, sở hữu tài sản).")
class ParcelRight:
    record: strawberry.Private[ParcelRightRecord]
    as_of: strawberry.Private[date | None]

    @strawberry.field
    def kind(self) -> str:
        return self.record.kind

    @strawberry.field(description="Certificate (giấy chứng nhận) number.")
    def certificate_number(self) -> str | None:
        return self.record.certificate_number

    @strawberry.field
    def share_percent(self) -> float:
        return float(self.record.share_percent)

    @strawberry.field
    def since(self) -> date | None:
        return self.record.since

    @strawberry.field
    async def holder(self, info: Info) -> RightHolder | None:
        holder, via = self.record.holder_id, "Parcel.rights.holder"
        if self.record.holder_kind == "enterprise":
            return await reach(info, Enterprise, holder, via=via, as_of=self.as_of)
        return await reach(info, Resident, holder, via=via, as_of=self.as_of)


@strawberry.type(description="A land parcel (thửa đất) in the cadastral registry.")
class Parcel:
    record: strawberry.Private[ParcelRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @strawberry.field(description="National parcel ID: GeoHash (12) of a point inside it.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.parcel_id)

    @strawberry.field
    def record_version(self) -> RecordVersion:
        return record_version(self.record)

    @guarded(description="Số thửa.")
    def parcel_number(self) -> int | None:
        return self.record.parcel_number

    @guarded(description="Số tờ bản đồ.")
    def map_sheet(self) -> int | None:
        return self.record.map_sheet

    @guarded()
    def address(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference, self.record.commune_code, self.record.address_line
        )

    @guarded(description="Declared area in m².")
    def area(self) -> float | None:
        return float(self.record.declared_area)

    @guarded()
    def land_use(self, info: Info) -> LandUse | None:
        category = context_of(info).services.reference.land_use.get(self.record.land_use_code)
        if category is None:
            return None
        return LandUse(code=category.code, name=category.name, group=category.land_group)

    @guarded(description="GeoJSON geometry (MultiPolygon, WGS 84).")
    def geometry(self) -> JSON | None:
        return cast("JSON", parcel_geojson(self.record))

    @guarded()
    async def rights(self, info: Info) -> list[ParcelRight] | None:
        rights = await context_of(info).loaders.rights.load((self.record.parcel_id, self.as_of))
        return [ParcelRight(record=right, as_of=self.as_of) for right in rights]


@strawberry.type(description="A province or a commune (2025 administrative units).")
class AdminUnit:
    code: str
    name: str
    level: str
    division_type: str
    province: AdminUnit | None = None


@strawberry.type
class Consent:
    id: strawberry.ID
    agency: str
    purpose: str
    fields: list[str]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    channel: str


@strawberry.type(description="One disclosure of the citizen's data: who saw what, and why.")
class AccessLogEntry:
    occurred_at: datetime
    agency: str
    officer: str | None
    purpose: str | None
    legal_basis: str | None
    subject_type: str
    fields_given: list[str]
    fields_masked: list[str]
    fields_denied: list[str]
    request_id: str


@strawberry.type
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class AccessLogConnection:
    nodes: list[AccessLogEntry]
    page_info: PageInfo


@strawberry.type(description="Where a prefilled value came from.")
class Provenance:
    registry: str
    record_version: RecordVersion


@strawberry.type
class PrefillField:
    key: str
    label: str
    path: str
    value: str | None
    missing: str | None = strawberry.field(
        description="Why there is no value: absent in the registry, or refused (and why)."
    )
    provenance: Provenance | None


@strawberry.type(description="A procedure's form filled from the registries.")
class Prefill:
    form: str
    title: str
    procedure: str
    subject: strawberry.ID
    fields: list[PrefillField]
