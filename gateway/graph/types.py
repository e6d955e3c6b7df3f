"""GraphQL types of the registries, kept apart from the registry models they present.

Every field of a subject type is `guarded()` — identifiers (`id`, `code`, `headId`) and metadata
(`recordVersion`) included: the subject's grant (one policy decision over all its fields) gives
it, masks it or refuses it. The one exception is the key the caller sent at the root, which is
echoed for a subject it may see. Relations reach other subjects, each decided on its own by key,
with the relation as `via` (gateway.subjects), before its row is read; relation attributes are
governed by the subject they describe (`HouseholdMember.relationshipToHead` is the member's) or
come with the relation field that lists them (a right's kind, a representative's title).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast, get_args

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.private import is_private
from strawberry.utils.str_converters import to_camel_case

from gateway.errors import GatewayError
from gateway.graph.guard import GivenFlags, Grant, Guarded
from gateway.graph.reference import ReferenceCache
from gateway.selection import requested_fields
from gateway.subjects import SUBJECT_KINDS, via_of
from registries.enterprises.models import Enterprise as EnterpriseRecord
from registries.history import Versioned
from registries.parcels.models import Parcel as ParcelRecord
from registries.parcels.models import ParcelRight as ParcelRightRecord
from registries.parcels.service import parcel_geojson
from registries.reference.seed import REORGANISED_ON
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


@strawberry.type(
    description="An address as the export wrote it before the 2025 reorganisation: the commune, "
    "district and province it named, which the registry converted to the 2025 commune."
)
class FormerAddress:
    commune_code: int
    commune_name: str
    district_code: int | None
    district_name: str | None
    province_code: int | None
    province_name: str | None
    effective_on: date | None = strawberry.field(
        description="The day the 2025 units replaced it (2025-07-01)."
    )
    conversion: str = strawberry.field(
        description="How the 2025 commune was found: `single` (the former commune went into "
        "one), `population` (split; the part that took its whole population), `given` (split; "
        "the export gave the 2025 commune too)."
    )
    line: strawberry.Private[str | None] = None

    @strawberry.field(description="The address as written before 2025: line, commune, district, "
                      "province.")  # fmt: skip
    def full_address(self) -> str:
        parts = (self.line, self.commune_name, self.district_name, self.province_name)
        return ", ".join(part for part in parts if part)


@strawberry.type(description="An address on the 2025 administrative units (34 provinces).")
class Address:
    commune_code: int | None
    commune_name: str | None
    province_code: int | None
    province_name: str | None
    line: str | None
    former_form: strawberry.Private[FormerAddress | None] = None

    @strawberry.field(description="The address as written on forms: line, commune, province.")
    def full_address(self) -> str:
        parts = (self.line, self.commune_name, self.province_name)
        return ", ".join(part for part in parts if part)

    @strawberry.field(
        description="The address as the export wrote it, when that was before the 2025 "
        "reorganisation; null otherwise. Part of the address: given, masked (null under "
        "`province_only`) or refused with it."
    )
    def former(self) -> FormerAddress | None:
        # A mask that drops the commune drops the former form too: it names a smaller place
        return self.former_form if self.commune_code is not None else None


def address(
    reference: ReferenceCache,
    commune_code: int | None,
    line: str | None,
    former: Mapping[str, Any] | None = None,
) -> Address | None:
    """An address; `former` is the record's provenance entry for its commune field (the
    pre-2025 commune the export named, etl.validation), when there is one."""
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
        former_form=_former_address(reference, former, line) if former else None,
    )


def former_of(provenance: Mapping[str, Any] | str | None, field: str) -> Mapping[str, Any] | None:
    """A record's provenance entry for one commune field, if the export named a former one.
    The compiled plans read rows with asyncpg, which hands JSONB over as its text."""
    read = json.loads(provenance) if isinstance(provenance, str) else provenance
    found = ((read or {}).get("former_units") or {}).get(field)
    return found if isinstance(found, Mapping) else None


def _former_address(
    reference: ReferenceCache, former: Mapping[str, Any], line: str | None
) -> FormerAddress | None:
    commune = reference.former_units.get(("commune", int(former["code"])))
    if commune is None:
        return None
    district = reference.former_units.get(("district", commune.district_code or 0))
    province = reference.former_units.get(("province", commune.province_code))
    return FormerAddress(
        commune_code=commune.code,
        commune_name=commune.name,
        district_code=district.code if district else None,
        district_name=district.name if district else None,
        province_code=province.code if province else None,
        province_name=province.name if province else None,
        effective_on=REORGANISED_ON,
        conversion=str(former.get("rule", "")),
        line=line,
    )


Subject = TypeVar("Subject", "Resident", "Household", "Enterprise", "Parcel")


def governed(type_name: str) -> frozenset[str]:
    """Every field of a subject type, by GraphQL name: what each decision on it covers."""
    return _GOVERNED[type_name]


# Fields of flags about the others (GivenFlags): what they show follows the other fields'
# outcomes, so no decision is asked about them by name.
FLAGS = frozenset({"disputedFields"})


def asked(info: Info, type_name: str) -> frozenset[str]:
    """The fields this field's selection asks of a subject of this type (its flags aside)."""
    return requested_fields(info.selected_fields, type_name, _ABSTRACT.get(type_name, ())) - FLAGS


def asked_on(info: Info, type_name: str) -> Callable[[], frozenset[str]]:
    """`asked`, read from the selection only when a refusal needs it (what the refusal denies)."""
    return lambda: asked(info, type_name)


async def _decided_then_read(
    info: Info,
    cls: type[Subject],
    keys: Sequence[str],
    *,
    via: str | None,
    as_of: date | None,
    at_hand: Mapping[str, Any] | None = None,
) -> list[tuple[Grant, Any]]:
    """Each key's grant, decided over the fields asked before any row is read, and its record,
    read only for a subject that may be seen (None otherwise, or when absent; `at_hand`: records
    a relation already read with its link). At the root (`via` None) the keys are the caller's:
    each lookup is logged whatever it finds."""
    context = context_of(info)
    type_name = cls.__name__
    guard = context.guard
    root = via is None
    if root:
        for key in keys:
            guard.looked_up(type_name, key)
    grants = await guard.grants(type_name, keys, asked(info, type_name), governed(type_name), via)
    shown = list(dict.fromkeys(k for k, g in zip(keys, grants, strict=True) if g.visible))
    if at_hand is not None:
        records = dict(at_hand)
    else:
        loader = getattr(context.loaders, SUBJECT_KINDS[type_name].loader)
        read = await loader.load_many([(k, as_of) for k in shown])
        records = dict(zip(shown, read, strict=True))
    found = []
    for key, grant in zip(keys, grants, strict=True):
        record = records.get(key)
        if root and grant.visible and record is None:
            guard.absent(type_name, key)
        found.append((replace(grant, root=True) if root else grant, record))
    return found


async def reach(
    info: Info,
    cls: type[Subject],
    key: str,
    *,
    via: str | None,
    as_of: date | None,
    record: Any = None,
) -> Subject | None:
    """One subject reached by this field (read by key unless its record is at hand): FORBIDDEN
    at this field when it may not be seen (nothing of it read), null when absent."""
    at_hand = None if record is None else {key: record}
    ((grant, record),) = await _decided_then_read(
        info, cls, [key], via=via, as_of=as_of, at_hand=at_hand
    )
    grant.check_subject(info.field_name, asked_on(info, cls.__name__))
    return None if record is None else cls(record=record, grant=grant, as_of=as_of)


async def reach_many(
    info: Info, cls: type[Subject], keys: Sequence[str]
) -> list[Subject | GatewayError | None]:
    """Subjects the caller named by key (a batch root field), in order: a refused one is its own
    FORBIDDEN (graphql-core reports it at its index), an absent one null."""
    answer: list[Subject | GatewayError | None] = []
    for grant, record in await _decided_then_read(info, cls, keys, via=None, as_of=None):
        try:
            grant.check_subject(info.field_name, asked_on(info, cls.__name__))
        except GatewayError as refusal:
            answer.append(refusal)
            continue
        answer.append(None if record is None else cls(record=record, grant=grant, as_of=None))
    return answer


async def decide_subjects(
    info: Info,
    cls: type[Subject],
    records: Sequence[Any],
    *,
    via: str | None,
    as_of: date | None,
) -> list[Subject]:
    """Subjects a list relation (or a search) reached with their rows: one decision each,
    decided together. Whether each may be seen is for the caller to check."""
    type_name = cls.__name__
    key = SUBJECT_KINDS[type_name].key_attribute
    grants = await context_of(info).guard.decide_many(
        type_name, [getattr(r, key) for r in records], governed(type_name), via
    )
    return [cls(record=r, grant=g, as_of=as_of) for r, g in zip(records, grants, strict=True)]


def visible(subjects: list[Subject], info: Info) -> list[Subject]:
    """A list field whose every element must be visible (FORBIDDEN at the field otherwise)."""
    _refuse_any([s.grant for s in subjects], info, type(subjects[0]).__name__ if subjects else "")
    return subjects


def _refuse_any(grants: Sequence[Grant], info: Info, type_name: str) -> None:
    """FORBIDDEN at this list field when a subject it lists may not be seen; every such subject
    is recorded as refused, each field asked of it denied."""
    refusal = None
    for grant in grants:
        try:
            grant.check_subject(info.field_name, asked_on(info, type_name))
        except GatewayError as error:
            refusal = refusal or error
    if refusal is not None:
        raise refusal


async def reach_all(
    info: Info, cls: type[Subject], keys: Sequence[str], *, via: str, as_of: date | None
) -> list[Subject]:
    """The subjects a list relation names by key (a resident's parents, children), in order:
    each decided by key before any row is read; the list is refused whole when one of them may
    not be seen (as `Resident.parcels` is), whether it exists or not; a key the registry does
    not hold (a family link not yet resolved) is left out."""
    type_name = cls.__name__
    keys = list(dict.fromkeys(keys))
    context = context_of(info)
    grants = await context.guard.grants(
        type_name, keys, asked(info, type_name), governed(type_name), via
    )
    _refuse_any(grants, info, type_name)
    loader = getattr(context.loaders, SUBJECT_KINDS[type_name].loader)
    records = await loader.load_many([(key, as_of) for key in keys])
    return [
        cls(record=record, grant=grant, as_of=as_of)
        for record, grant in zip(records, grants, strict=True)
        if record is not None
    ]


@strawberry.type(description="A person in the national population registry (CSDLQG về dân cư).")
class Resident:
    record: strawberry.Private[ResidentRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @guarded(description="12-digit personal ID (số định danh cá nhân).")
    def id(self) -> strawberry.ID | None:
        return strawberry.ID(self.record.personal_id)

    @guarded(description="The registry version that answered (metadata, governed too).")
    def record_version(self) -> RecordVersion | None:
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
            former_of(self.record.provenance, "permanent_commune_code"),
        )

    @guarded(description="Nơi tạm trú.")
    def temporary_address(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference,
            self.record.temporary_commune_code,
            self.record.temporary_address_line,
            former_of(self.record.provenance, "temporary_commune_code"),
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

    @guarded(description="Date of death, ISO 8601; the year alone when the agreement masks it.")
    def deceased_on(self) -> str | None:
        died: date | None = self.record.deceased_on
        return None if died is None else died.isoformat()

    @strawberry.field(
        extensions=[GivenFlags()],
        description="The fields of this answer a citizen has disputed: a correction request "
        "open at the registry (docs/corrections.md). Only fields whose value this answer gives "
        "you (clear or masked) are named; ask it beside them. Empty for an `asOf` read.",
    )
    async def disputed_fields(self, info: Info) -> list[str]:
        if self.as_of is not None:  # a dispute is about the value in force, not history
            return []
        # A compiled plan read them with the row (gateway/graph/plans.py); otherwise one
        # statement for every resident of the request (the `disputes` DataLoader)
        read: list[str] | None = getattr(self.record, "disputed_fields", None)
        if read is not None:
            return read
        found: list[str] = await context_of(info).loaders.disputes.load(
            (self.record.personal_id, None)
        )
        return found

    @guarded(
        description="The spouse `spouseId` names, when the registry holds them (a link to a "
        "person not yet loaded is null); decided with the spouse's own agreement."
    )
    async def spouse(self, info: Info) -> Resident | None:
        if self.record.spouse_id is None:
            return None
        return await reach(
            info,
            Resident,
            self.record.spouse_id,
            via=via_of("Resident", "spouse"),
            as_of=self.as_of,
        )

    @guarded(
        description="The father and the mother (in that order) the registry holds; each "
        "decided with their own agreement, the list refused whole if one may not be seen."
    )
    async def parents(self, info: Info) -> list[Resident] | None:
        keys = [k for k in (self.record.father_id, self.record.mother_id) if k is not None]
        return await reach_all(
            info, Resident, keys, via=via_of("Resident", "parents"), as_of=self.as_of
        )

    @guarded(
        description="The residents naming this one as father or mother, eldest first; each "
        "decided with their own agreement, the list refused whole if one may not be seen."
    )
    async def children(self, info: Info) -> list[Resident] | None:
        keys = await context_of(info).loaders.children.load((self.record.personal_id, self.as_of))
        return await reach_all(
            info, Resident, keys, via=via_of("Resident", "children"), as_of=self.as_of
        )

    @guarded()
    async def household(self, info: Info) -> Household | None:
        if self.record.household_id is None:
            return None
        return await reach(
            info,
            Household,
            self.record.household_id,
            via=via_of("Resident", "household"),
            as_of=self.as_of,
        )

    @guarded(description="Parcels on which this person holds a right.")
    async def parcels(self, info: Info) -> list[Parcel] | None:
        held = await context_of(info).loaders.resident_parcels.load(
            (self.record.personal_id, self.as_of)
        )
        parcels = await decide_subjects(
            info, Parcel, [parcel for parcel, _ in held], via=via_of("Resident", "parcels"),
            as_of=self.as_of,
        )  # fmt: skip
        return visible(parcels, info)

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
            via=via_of("Resident", "representedEnterprises"),
            as_of=self.as_of,
            record=self.enterprise_record,
        )


@strawberry.type(description="A household (hộ gia đình) as registered for residence.")
class Household:
    record: strawberry.Private[HouseholdRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @guarded(description="Household ID (số hộ).")
    def id(self) -> strawberry.ID | None:
        return strawberry.ID(self.record.household_id)

    @guarded(description="The registry version that answered (metadata, governed too).")
    def record_version(self) -> RecordVersion | None:
        return record_version(self.record)

    @guarded(description="Personal ID of the head of household (chủ hộ).")
    def head_id(self) -> str | None:
        return self.record.head_id

    @guarded()
    async def head(self, info: Info) -> Resident | None:
        return await reach(
            info, Resident, self.record.head_id, via=via_of("Household", "head"), as_of=self.as_of
        )

    @guarded()
    def address(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference,
            self.record.commune_code,
            self.record.address_line,
            former_of(self.record.provenance, "commune_code"),
        )

    @guarded(description="Members, the head first.")
    async def members(self, info: Info) -> list[HouseholdMember] | None:
        records = await context_of(info).loaders.members.load(
            (self.record.household_id, self.as_of)
        )
        residents = await decide_subjects(
            info, Resident, records, via=via_of("Household", "members"), as_of=self.as_of
        )
        return [HouseholdMember(member=resident) for resident in residents]


@strawberry.type(description="A member of a household; both fields are the member's own data.")
class HouseholdMember:
    member: strawberry.Private[Resident]

    @property
    def grant(self) -> Grant:  # the member's: it decides relationshipToHead too
        return self.member.grant

    @strawberry.field
    def resident(self, info: Info) -> Resident | None:
        self.member.grant.check_subject(info.field_name, asked_on(info, "Resident"))
        return self.member

    @guarded(description="The member's relationship to the head (quan hệ với chủ hộ).")
    def relationship_to_head(self) -> str | None:
        return self.member.record.relationship_to_head


@strawberry.type(description="An enterprise in the national business registry.")
class Enterprise:
    record: strawberry.Private[EnterpriseRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @guarded(description="Enterprise code (mã số doanh nghiệp), 10 or 13 digits.")
    def code(self) -> strawberry.ID | None:
        return strawberry.ID(self.record.enterprise_code)

    @guarded(description="The registry version that answered (metadata, governed too).")
    def record_version(self) -> RecordVersion | None:
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
        value: Decimal | None = self.record.charter_capital
        # Positional notation ("5000000000", never "5E+9"): the scalar is the number's str()
        return None if value is None else Decimal(f"{value:f}")

    @guarded()
    def head_office(self, info: Info) -> Address | None:
        return address(
            context_of(info).services.reference,
            self.record.head_office_commune_code,
            self.record.head_office_address_line,
            former_of(self.record.provenance, "head_office_commune_code"),
        )

    @guarded()
    async def legal_representatives(self, info: Info) -> list[LegalRepresentative] | None:
        context = context_of(info)
        links = await context.loaders.representatives.load(
            (self.record.enterprise_code, self.as_of)
        )
        keys = [link.personal_id for link in links]
        grants = await context.guard.decide_many(
            "Resident", keys, governed("Resident"), via_of("Enterprise", "legalRepresentatives")
        )
        shown = [key for key, grant in zip(keys, grants, strict=True) if grant.visible]
        records = dict(
            zip(shown, await context.loaders.residents.load_many([(k, self.as_of) for k in shown]),
                strict=True)
        )  # fmt: skip
        return [
            LegalRepresentative(
                grant=grant,
                person=Resident(record=records[link.personal_id], grant=grant, as_of=self.as_of)
                if records.get(link.personal_id) is not None
                else None,
                title=link.title,
            )
            for link, grant in zip(links, grants, strict=True)
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
    grant: strawberry.Private[Grant]  # the representative's, decided before their row is read
    person: strawberry.Private[Resident | None]
    title: str

    @strawberry.field
    def resident(self, info: Info) -> Resident | None:
        self.grant.check_subject(info.field_name, asked_on(info, "Resident"))
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
        holder, reached = self.record.holder_id, via_of("Parcel", "rights")
        if self.record.holder_kind == "enterprise":
            return await reach(info, Enterprise, holder, via=reached, as_of=self.as_of)
        return await reach(info, Resident, holder, via=reached, as_of=self.as_of)


@strawberry.type(description="A land parcel (thửa đất) in the cadastral registry.")
class Parcel:
    record: strawberry.Private[ParcelRecord]
    grant: strawberry.Private[Grant]
    as_of: strawberry.Private[date | None]

    @guarded(description="National parcel ID: GeoHash (12) of a point inside it.")
    def id(self) -> strawberry.ID | None:
        return strawberry.ID(self.record.parcel_id)

    @guarded(description="The registry version that answered (metadata, governed too).")
    def record_version(self) -> RecordVersion | None:
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


def _unions_of(*unions: Any) -> dict[str, tuple[str, ...]]:
    """The unions each subject type belongs to, read from their declarations: a fragment on one
    of them (`... on RightHolder`) asks fields of the subject."""
    found: dict[str, tuple[str, ...]] = {}
    for union in unions:
        members, definition = get_args(union)
        for member in get_args(members):
            found[member.__name__] = (*found.get(member.__name__, ()), definition.graphql_name)
    return found


_ABSTRACT = _unions_of(RightHolder)


def _published(cls: type[Any]) -> list[StrawberryField]:
    """The fields of a type the schema publishes (not its private attributes)."""
    fields = get_object_definition(cls, strict=True).fields
    return [f for f in fields if not is_private(f.type_annotation.resolve())]  # type: ignore[union-attr]


# Every field of each subject type (none may escape its grant: a test holds each one guarded).
_GOVERNED: dict[str, frozenset[str]] = {
    cls.__name__: frozenset(to_camel_case(f.python_name) for f in _published(cls))
    for cls in (Resident, Household, Enterprise, Parcel)
}
SUBJECT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (Resident, Household, Enterprise, Parcel)
}


@strawberry.type(
    description="A province, district or commune before the 2025 reorganisation, as one of the "
    "former units of a 2025 unit."
)
class FormerUnit:
    code: str = strawberry.field(
        description="Its code before 2025: 2 digits (province), 3 (district) or 5 (commune)."
    )
    name: str
    level: str = strawberry.field(description="`province`, `district` or `commune`.")
    division_type: str
    district_name: str | None
    province_name: str
    whole: bool = strawberry.field(
        description="Whether all of it went into this unit (false: it was split, a part here)."
    )
    note: str | None = strawberry.field(
        description='The conversion table\'s word for it (e.g. "Nhập một phần"); null for '
        "a province."
    )
    effective_on: date = strawberry.field(description="The day the change took effect.")


@strawberry.type(description="A province or a commune (2025 administrative units).")
class AdminUnit:
    code: str
    name: str
    level: str
    division_type: str
    province: AdminUnit | None = None
    former_units: list[FormerUnit] = strawberry.field(
        default_factory=list,
        description="The units before the 2025 reorganisation that went into it, wholly or in "
        "part (2025-07-01 conversion table).",
    )


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
    dossier: str | None = strawberry.field(
        default=None, description="The one-stop dossier (mã hồ sơ) the request served."
    )
    officer_name: str | None = strawberry.field(
        default=None, description="The officer's name, as their agency asserted it."
    )
    officer_unit: str | None = strawberry.field(default=None, description="The officer's unit.")
    officer_verified: bool = strawberry.field(
        default=False,
        description="Whether the officer comes from a verified credential (an assertion signed "
        "by the agency, or a token naming the officer), not a header the software wrote.",
    )
    outcome: str = strawberry.field(
        default="disclosed",
        description="disclosed, refused, oversight (a data steward's read), or dossier (a "
        "one-stop dossier naming you was registered).",
    )


@strawberry.type(description="A subject a one-stop dossier concerns.")
class DossierSubject:
    type: str
    id: strawberry.ID
    role: str


@strawberry.input(description="A subject a one-stop dossier concerns.")
class DossierSubjectInput:
    type: str = strawberry.field(description="Resident, Household, Enterprise or Parcel.")
    id: strawberry.ID
    role: str = strawberry.field(
        default="applicant", description="applicant, member, representative, enterprise, …"
    )


@strawberry.type(
    description="A one-stop dossier (hồ sơ một cửa) registered by its agency: requests of a "
    "case-bound purpose name it in X-Dossier and reach only its subjects."
)
class Dossier:
    number: str
    purpose: str
    procedure: str | None
    subjects: list[DossierSubject]
    opened_by: str
    opened_at: datetime
    expires_at: datetime
    closed_at: datetime | None


@strawberry.type
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class AccessLogConnection:
    nodes: list[AccessLogEntry]
    page_info: PageInfo


@strawberry.type(description="What a change event is about.")
class ChangeSubject:
    type: str = strawberry.field(description="Resident, Household, Enterprise or Parcel.")
    id: strawberry.ID


@strawberry.type(
    description="A change event of one of your subscriptions, with what your agreement gives "
    "of the subject's new version (docs/events.md)."
)
class Change:
    id: strawberry.ID = strawberry.field(description="The event's id, as a webhook carries it.")
    type: str = strawberry.field(description="e.g. resident.address_changed.")
    subject: ChangeSubject
    sequence: int = strawberry.field(
        description="The subject's version sequence: a later change of it has a higher one."
    )
    effective_at: datetime
    recorded_at: datetime
    data: JSON = strawberry.field(
        description="The fields the event's type reveals, as this schema renders them (masked "
        "where your agreement masks them)."
    )


@strawberry.type
class ChangeConnection:
    nodes: list[Change]
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
    disputed: bool = strawberry.field(
        default=False,
        description="The value is disputed: its subject reported it wrong and the registry's "
        "stewards are handling the correction (docs/corrections.md). Only beside a value.",
    )


@strawberry.type(description="One step of a correction request.")
class CorrectionStep:
    step: str = strawberry.field(description="reported, forwarded, corrected or rejected.")
    at: datetime


@strawberry.type(
    description="A request to correct one field of a resident's registry record "
    "(docs/corrections.md): disputed from its report until corrected by the source or rejected."
)
class Correction:
    id: strawberry.ID
    subject: strawberry.ID = strawberry.field(description="The resident's personal ID.")
    field: str = strawberry.field(description="The disputed field, e.g. fullName.")
    explanation: str
    reported_by: str = strawberry.field(
        description="citizen, or officer (at a counter, the citizen present)."
    )
    status: str = strawberry.field(description="reported, forwarded, corrected or rejected.")
    source_agency: str | None = strawberry.field(
        description="The agency keeping the source record, once the stewards forwarded it."
    )
    rejection_reason: str | None = strawberry.field(
        description="Why the stewards rejected it, when they did."
    )
    reported_at: datetime
    updated_at: datetime
    history: list[CorrectionStep]


@strawberry.type(description="A procedure's form filled from the registries.")
class Prefill:
    form: str
    title: str
    procedure: str
    subject: strawberry.ID
    fields: list[PrefillField]
