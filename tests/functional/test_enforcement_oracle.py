"""An independent oracle of field-level enforcement, end to end through `/graphql`.

Each example draws a policy (agencies, purposes, agreements with field lists, `via`, consent and
masks, in force or not; residents' consents, live or not) and a GraphQL document over the
published schema (root lookups by key, present and absent, batches, aliases, named and inline
fragments, `__typename`, nesting through every relation), stores the policy with plain SQL, asks
the gateway, and compares its answer with the one computed here from the registry rows (read
with plain SQL once) and the drawn policy alone: the whole `data` (nulls, list lengths, union
members, masked values) and the errors' code, path and field, sorted by path; then each
`access_log` row of the request (by its X-Request-Id) against what the answer gave, masked and
refused for that subject. No gateway code computes anything the assertions compare.

The semantics (the target behaviour of the enforcement):
- A decision (agency, purpose, type, subject, via) is taken over ALL the governed fields of the
  type. Applicable agreements: approved, in force, same agency, purpose and type, and `via` null
  or naming the relation the subject was reached through (at the root there is none). Each gives
  its fields (with consent required: only those the subject's live consents cover); a field
  some agreement gives unmasked is clear, one only masked agreements give is masked. A subject
  is visible when it has a clear or masked field.
- A root lookup whose subject is not visible is null with FORBIDDEN at its path, whether the key
  exists or not; a visible absent key is null without error. A root subject's key field is the
  caller's own: always given. Every other field — related subjects' keys and `recordVersion`
  included — is given, masked, or null with FORBIDDEN (extensions.field "Type.field").
- A relation field is a field of its parent; the subject it reaches is decided with the relation
  as `via`. A single related subject that is not visible is null with FORBIDDEN at the field
  reaching it; `Resident.parcels` is null with FORBIDDEN when any of the parcels is not visible.
  Every FORBIDDEN for a subject that is not visible carries the same reason, and at the same
  field the same message and extensions.
- The access log has a row per subject looked up by key at the root, and per subject the answer
  wrote something of, refused something of, or refused whole: the fields written in clear,
  masked, and answered with FORBIDDEN (minus those written; a subject refused whole is denied
  every field asked of it, present or absent); a visible root lookup of an absent key has an
  empty row whose decision outcome is "absent".
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from graphql import GraphQLError, GraphQLObjectType, build_schema, get_named_type, parse, validate
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from shapely import wkb
from shapely.geometry import mapping
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.identifiers import Sex
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_SCHEMA = build_schema((ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8"))

RESIDENT, HOUSEHOLD, ENTERPRISE, PARCEL = "Resident", "Household", "Enterprise", "Parcel"
SUBJECT_TYPES = (RESIDENT, HOUSEHOLD, ENTERPRISE, PARCEL)
AUDIT_NAMES = {RESIDENT: "resident", HOUSEHOLD: "household", ENTERPRISE: "enterprise",
               PARCEL: "parcel"}  # fmt: skip
KEY_FIELDS = {RESIDENT: "id", HOUSEHOLD: "id", ENTERPRISE: "code", PARCEL: "id"}

# The schema's object types as this oracle reads them: each field's named GraphQL type.
FIELD_TYPES: dict[str, dict[str, str]] = {
    RESIDENT: {
        "id": "ID", "recordVersion": "RecordVersion", "fullName": "String",
        "birthDate": "String", "sex": "String", "ethnicity": "String", "religion": "String",
        "nationality": "String", "placeOfBirth": "String", "hometown": "String",
        "permanentAddress": "Address", "temporaryAddress": "Address",
        "relationshipToHead": "String", "maritalStatus": "String", "fatherId": "String",
        "motherId": "String", "spouseId": "String", "deceased": "Boolean",
        "deceasedOn": "String", "spouse": RESIDENT, "parents": RESIDENT, "children": RESIDENT,
        "household": HOUSEHOLD, "parcels": PARCEL, "representedEnterprises": "Representation",
        "disputedFields": "String",
    },
    HOUSEHOLD: {
        "id": "ID", "recordVersion": "RecordVersion", "headId": "String", "head": RESIDENT,
        "address": "Address", "members": "HouseholdMember",
    },
    ENTERPRISE: {
        "code": "ID", "recordVersion": "RecordVersion", "name": "String",
        "foreignName": "String", "shortName": "String", "type": "String", "status": "String",
        "registeredOn": "Date", "charterCapital": "Decimal", "headOffice": "Address",
        "legalRepresentatives": "LegalRepresentative", "businessLines": "BusinessLineEntry",
    },
    PARCEL: {
        "id": "ID", "recordVersion": "RecordVersion", "parcelNumber": "Int", "mapSheet": "Int",
        "address": "Address", "area": "Float", "landUse": "LandUse", "geometry": "JSON",
        "rights": "ParcelRight",
    },
    "HouseholdMember": {"relationshipToHead": "String", "resident": RESIDENT},
    "LegalRepresentative": {"title": "String", "resident": RESIDENT},
    "Representation": {"title": "String", "enterprise": ENTERPRISE},
    "ParcelRight": {
        "kind": "String", "certificateNumber": "String", "sharePercent": "Float",
        "since": "Date", "holder": "RightHolder",
    },
    "Address": {
        "communeCode": "Int", "communeName": "String", "provinceCode": "Int",
        "provinceName": "String", "line": "String", "fullAddress": "String",
        "former": "FormerAddress",
    },
    # The world's records are loaded with 2025 codes: an address's former form is null
    "FormerAddress": {
        "communeCode": "Int", "communeName": "String", "districtCode": "Int",
        "districtName": "String", "provinceCode": "Int", "provinceName": "String",
        "effectiveOn": "Date", "conversion": "String", "fullAddress": "String",
    },
    "RecordVersion": {"validFrom": "DateTime", "validTo": "DateTime", "recordedAt": "DateTime"},
    "LandUse": {"code": "String", "name": "String", "group": "String"},
    "BusinessLineEntry": {"code": "String", "name": "String", "main": "Boolean"},
}  # fmt: skip
# Flags about a subject's other fields (its open correction requests): they hold no registry
# value and this world disputes nothing, so documents never ask them; their rule (shown only
# beside a value given) is tests/functional/test_corrections.py's.
FLAGS = frozenset({"disputedFields"})
# Every field of a subject type is governed: the decision is taken over all of them.
GOVERNED = {type_name: tuple(FIELD_TYPES[type_name]) for type_name in SUBJECT_TYPES}
UNION_MEMBERS = {"RightHolder": (RESIDENT, ENTERPRISE)}
WRAPPERS = ("HouseholdMember", "LegalRepresentative", "Representation", "ParcelRight")
LISTS = frozenset(
    {"members", "legalRepresentatives", "businessLines", "rights", "parcels",
     "representedEnterprises", "parents", "children"}
)  # fmt: skip
# The relations and the `via` each gives the subjects it reaches.
VIAS = (
    "Resident.household", "Household.head", "Household.members",
    "Enterprise.legalRepresentatives", "Resident.parcels", "Resident.representedEnterprises",
    "Parcel.rights.holder", "Resident.spouse", "Resident.parents", "Resident.children",
)  # fmt: skip
# The one mask kind each maskable field may carry (only where the kind applies to its value).
MASKABLE: dict[str, dict[str, str]] = {
    RESIDENT: {
        "id": "last4", "fatherId": "last4", "motherId": "last4", "spouseId": "last4",
        "fullName": "initials", "birthDate": "year_only", "deceasedOn": "year_only",
        "permanentAddress": "province_only", "temporaryAddress": "province_only",
    },
    HOUSEHOLD: {"id": "last4", "headId": "last4", "address": "province_only"},
    ENTERPRISE: {
        "code": "last4", "name": "initials", "foreignName": "initials", "shortName": "initials",
        "headOffice": "province_only",
    },
    PARCEL: {"id": "last4", "address": "province_only"},
}  # fmt: skip
# Root fields reading subjects by key: (type, argument, batch). `residentByDocument` reads a
# resident by an identity card's number (DOCUMENT_ROOTS): not the key, which is governed there.
ROOTS = {
    "resident": (RESIDENT, "id", False),
    "residentByDocument": (RESIDENT, "number", False),
    "household": (HOUSEHOLD, "id", False),
    "residents": (RESIDENT, "ids", True),
    "parcel": (PARCEL, "id", False),
    "enterprise": (ENTERPRISE, "code", False),
    "enterprises": (ENTERPRISE, "codes", True),
}
# What the gateway admits (docs/contract.md): kept well inside, so no example is refused whole.
MAX_DEPTH, MAX_COST, MAX_TOKENS, MAX_ALIASES, LIST_ESTIMATE = 9, 15_000, 2_000, 90, 10
DOCUMENT_ROOTS = frozenset({"residentByDocument"})
REFUSED = "(subject refused)"

Json = Any
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# The world: a few committed registry rows, and the same rows read back with plain SQL.


@dataclass(frozen=True)
class World:
    head: str  # married to the wife; a 9-digit CMND
    wife: str  # a 12-digit card number
    child: str  # the head's and the wife's
    loner: str  # no household; represents the firm; a temporary address without commune;
    # deceased; names a father the registry does not hold (an unresolved link); a CMND
    household: str
    firm: str  # two legal representatives, two business lines, holds the shared parcel
    holding: str  # no representative, no business line
    home_parcel: str  # held by the head
    shared_parcel: str  # held by the firm and the wife
    absent: Mapping[str, str]  # per type, a well-formed key no registry holds
    documents: tuple[str, ...]  # the card numbers residents hold
    absent_document: str  # a well-formed card number no resident holds

    def present(self, type_name: str) -> tuple[str, ...]:
        return {
            RESIDENT: (self.head, self.wife, self.child, self.loner),
            HOUSEHOLD: (self.household,),
            ENTERPRISE: (self.firm, self.holding),
            PARCEL: (self.home_parcel, self.shared_parcel),
        }[type_name]


async def _build_world(engine: AsyncEngine) -> World:
    household_id = f"48{uuid.uuid4().int % 10**10:010d}"
    head_id = factories.new_personal_id(birth_date=date(1979, 5, 17), sex=Sex.MALE)
    wife_id = factories.new_personal_id(birth_date=date(1988, 7, 9), sex=Sex.FEMALE)
    unresolved_father = factories.new_personal_id(birth_date=date(1960, 1, 1), sex=Sex.MALE)
    serial = uuid.uuid4().int
    cmnd, old_card, loner_cmnd, absent_cmnd = (
        f"20{serial % 10**7:07d}", f"048{serial % 10**9:09d}",
        f"21{serial % 10**7:07d}", f"22{serial % 10**7:07d}",
    )  # fmt: skip
    async with session_factory(engine).begin() as session:
        head = await factories.make_resident(
            session, personal_id=head_id, full_name="Trần Văn Bình",
            birth_date=date(1979, 5, 17), household_id=household_id,
            relationship_to_head="head", marital_status="married", spouse_id=wife_id,
            place_of_birth="Hội An, Quảng Nam", hometown="Điện Bàn, Quảng Nam",
            id_card_number=cmnd,
        )  # fmt: skip
        household = await factories.make_household(session, head=head, household_id=household_id)
        await factories.make_resident(
            session, personal_id=wife_id, full_name="Lê Thị Hoa", sex="female",
            birth_date=date(1988, 7, 9), household_id=household_id,
            relationship_to_head="wife", religion="Phật giáo", marital_status="married",
            spouse_id=head_id, temporary_commune_code=factories.HAI_CHAU,
            temporary_address_line="88 Lê Duẩn", id_card_number=old_card,
        )  # fmt: skip
        child = await factories.make_resident(
            session, full_name="Trần Minh Khoa", birth_date=date(2012, 1, 15),
            household_id=household_id, relationship_to_head="child", father_id=head_id,
            mother_id=wife_id, marital_status="single",
        )  # fmt: skip
        loner = await factories.make_resident(
            session, full_name="Phạm Thị Lan", sex="female", birth_date=date(1990, 11, 2),
            permanent_address_line="5 Nguyễn Văn Linh", temporary_address_line="Kiệt 20",
            religion="Công giáo", deceased=True, deceased_on=date(2024, 3, 1),
            father_id=unresolved_father, id_card_number=loner_cmnd,
        )  # fmt: skip
        firm = await factories.make_enterprise(
            session, foreign_name="SONG HAN TRADING COMPANY LIMITED", short_name="SONG HAN CO"
        )
        holding = await factories.make_enterprise(
            session, name="Công ty Cổ phần Đầu tư Ngũ Hành Sơn", enterprise_type="co_phan",
            registered_on=date(2019, 3, 12), charter_capital=Decimal("12000000000"),
        )  # fmt: skip
        await factories.make_representative(session, enterprise=firm, resident=head)
        await factories.make_representative(
            session, enterprise=firm, resident=loner, title="Phó Giám đốc"
        )
        await factories.make_business_line(
            session, enterprise=firm, vsic_code="47110", is_main=True
        )
        await factories.make_business_line(session, enterprise=firm, vsic_code="46900")
        lon, lat = 108.2301, 16.0611  # away from the squares other modules draw
        home_parcel = await factories.make_parcel(session, polygon=factories.square(lon, lat))
        shared_parcel = await factories.make_parcel(
            session, polygon=factories.square(lon + 0.001, lat), land_use_code="TMD"
        )
        await factories.make_right(session, parcel=home_parcel, holder_id=head.personal_id)
        await factories.make_right(
            session, parcel=shared_parcel, holder_id=firm.enterprise_code,
            holder_kind="enterprise", kind="ownership", certificate_number="CT 98765",
        )  # fmt: skip
        await factories.make_right(session, parcel=shared_parcel, holder_id=wife_id)
    return World(
        head=head_id,
        wife=wife_id,
        child=child.personal_id,
        loner=loner.personal_id,
        household=household.household_id,
        firm=firm.enterprise_code,
        holding=holding.enterprise_code,
        home_parcel=home_parcel.parcel_id,
        shared_parcel=shared_parcel.parcel_id,
        absent={
            RESIDENT: factories.new_personal_id(),
            HOUSEHOLD: f"48{uuid.uuid4().int % 10**10:010d}",
            ENTERPRISE: factories.new_enterprise_code(),
            PARCEL: "w6ugqzzzzzzz",
        },
        documents=(cmnd, old_card, loner_cmnd),
        absent_document=absent_cmnd,
    )


@dataclass(frozen=True)
class Registry:
    """The current registry rows, and the reference data the answers name."""

    rows: Mapping[str, Mapping[str, Mapping[str, Any]]]  # type → key → row
    members: Mapping[str, list[str]]  # household → personal ids, the head first
    representatives: Mapping[str, list[tuple[str, str]]]  # enterprise → (personal id, title)
    represented: Mapping[str, list[tuple[str, str]]]  # personal id → (enterprise code, title)
    business_lines: Mapping[str, list[dict[str, Json]]]  # enterprise → lines, the main first
    rights: Mapping[str, list[Mapping[str, Any]]]  # parcel → rights
    held: Mapping[str, list[str]]  # personal id → parcel ids
    children: Mapping[str, list[str]]  # personal id → the children naming them, eldest first
    holders: Mapping[str, str]  # card number → the personal id holding it
    communes: Mapping[int, tuple[str, int, str]]  # code → (name, province code, province name)
    ethnic_groups: Mapping[int, str]
    land_use: Mapping[str, dict[str, Json]]


def _read_registry(url: str) -> Registry:
    with psycopg.connect(url, row_factory=dict_row) as connection:

        def query(statement: str) -> list[dict[str, Any]]:
            return connection.execute(statement).fetchall()

        def grouped(
            statement: str, key: str, value: Callable[[dict[str, Any]], T]
        ) -> dict[str, list[T]]:
            found: dict[str, list[T]] = defaultdict(list)
            for row in query(statement):
                found[row[key]].append(value(row))
            return dict(found)

        rows = {
            RESIDENT: {
                r["personal_id"]: r for r in query("SELECT * FROM residents WHERE valid_to IS NULL")
            },
            HOUSEHOLD: {
                r["household_id"]: r
                for r in query("SELECT * FROM households WHERE valid_to IS NULL")
            },
            ENTERPRISE: {
                r["enterprise_code"]: r
                for r in query("SELECT * FROM enterprises WHERE valid_to IS NULL")
            },
            PARCEL: {
                r["parcel_id"]: r
                for r in query(
                    "SELECT *, ST_AsBinary(geom) AS wkb FROM parcels WHERE valid_to IS NULL"
                )
            },
        }
        return Registry(
            rows=rows,
            members=grouped(
                "SELECT household_id, personal_id FROM residents "
                "WHERE valid_to IS NULL AND household_id IS NOT NULL "
                "ORDER BY household_id, relationship_to_head IS DISTINCT FROM 'head', "
                "birth_date, personal_id",
                "household_id",
                lambda r: str(r["personal_id"]),
            ),
            representatives=grouped(
                "SELECT enterprise_code, personal_id, title FROM enterprise_representatives "
                "WHERE valid_to IS NULL ORDER BY enterprise_code, personal_id",
                "enterprise_code",
                lambda r: (str(r["personal_id"]), str(r["title"])),
            ),
            represented=grouped(
                "SELECT r.personal_id, r.enterprise_code, r.title "
                "FROM enterprise_representatives r JOIN enterprises e "
                "ON e.enterprise_code = r.enterprise_code AND e.valid_to IS NULL "
                "WHERE r.valid_to IS NULL ORDER BY r.personal_id, r.enterprise_code",
                "personal_id",
                lambda r: (str(r["enterprise_code"]), str(r["title"])),
            ),
            business_lines=grouped(
                "SELECT l.enterprise_code, l.vsic_code, b.name, l.is_main "
                "FROM enterprise_business_lines l JOIN business_lines b ON b.code = l.vsic_code "
                "WHERE l.valid_to IS NULL ORDER BY l.enterprise_code, l.is_main DESC, l.vsic_code",
                "enterprise_code",
                lambda r: {"code": r["vsic_code"], "name": r["name"], "main": r["is_main"]},
            ),
            rights=grouped(
                "SELECT * FROM parcel_rights WHERE valid_to IS NULL "
                "ORDER BY parcel_id, share_percent DESC, holder_id",
                "parcel_id",
                lambda r: r,
            ),
            held=grouped(
                "SELECT DISTINCT r.holder_id, r.parcel_id FROM parcel_rights r JOIN parcels p "
                "ON p.parcel_id = r.parcel_id AND p.valid_to IS NULL "
                "WHERE r.valid_to IS NULL AND r.holder_kind = 'resident' "
                "ORDER BY r.holder_id, r.parcel_id",
                "holder_id",
                lambda r: str(r["parcel_id"]),
            ),
            children=grouped(
                "SELECT p.parent, r.personal_id FROM residents r CROSS JOIN LATERAL "
                "(SELECT DISTINCT unnest(ARRAY[r.father_id, r.mother_id]) AS parent) AS p "
                "WHERE r.valid_to IS NULL AND p.parent IS NOT NULL "
                "ORDER BY p.parent, r.birth_date, r.personal_id",
                "parent",
                lambda r: str(r["personal_id"]),
            ),
            holders={
                r["id_card_number"]: r["personal_id"]
                for r in query(
                    "SELECT id_card_number, personal_id FROM residents "
                    "WHERE valid_to IS NULL AND id_card_number IS NOT NULL"
                )
            },
            communes={
                r["code"]: (r["name"], r["province_code"], r["province_name"])
                for r in query(
                    "SELECT c.code, c.name, p.code AS province_code, p.name AS province_name "
                    "FROM communes c JOIN provinces p ON p.code = c.province_code"
                )
            },
            ethnic_groups={r["code"]: r["name"] for r in query("SELECT * FROM ethnic_groups")},
            land_use={
                r["code"]: {"code": r["code"], "name": r["name"], "group": r["land_group"]}
                for r in query("SELECT * FROM land_use_categories")
            },
        )


# --------------------------------------------------------------------------------------------
# The policy: drawn, stored with plain SQL, and decided here.


@dataclass(frozen=True)
class Agreement:
    agency: str
    purpose: str
    type: str
    fields: frozenset[str]
    via: tuple[str, ...] | None
    consent_required: bool
    masking: tuple[tuple[str, str], ...]
    status: str
    valid_from: datetime
    valid_to: datetime | None

    def in_force(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_to is None or now < self.valid_to)


@dataclass(frozen=True)
class Consent:
    subject: str
    agency: str
    purpose: str
    fields: frozenset[str]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.granted_at <= now < self.expires_at


@dataclass(frozen=True)
class Verdict:
    clear: frozenset[str]
    masked: Mapping[str, str]  # field → mask kind

    @property
    def visible(self) -> bool:
        return bool(self.clear or self.masked)

    def outcome(self, name: str) -> tuple[str, str | None]:
        if name in self.clear:
            return "allow", None
        if name in self.masked:
            return "mask", self.masked[name]
        return "deny", None


@dataclass(frozen=True)
class Policy:
    agency: str  # the caller
    purpose: str  # the caller's declared purpose
    other_agency: str
    other_purpose: str
    agreements: tuple[Agreement, ...]
    consents: tuple[Consent, ...]
    now: datetime

    def verdict(self, type_name: str, subject: str, via: str | None) -> Verdict:
        consented: set[str] = set()
        if type_name == RESIDENT:  # only residents give consents
            for consent in self.consents:
                if (consent.subject, consent.agency, consent.purpose) == (
                    subject, self.agency, self.purpose
                ) and consent.live(self.now):  # fmt: skip
                    consented |= consent.fields
        given_anywhere: set[str] = set()
        clear: set[str] = set()
        kinds: dict[str, str] = {}
        for agreement in self.agreements:
            if not (
                agreement.status == "approved"
                and agreement.in_force(self.now)
                and (agreement.agency, agreement.purpose, agreement.type)
                == (self.agency, self.purpose, type_name)
                and (agreement.via is None or (via is not None and via in agreement.via))
            ):
                continue
            given = agreement.fields & consented if agreement.consent_required else agreement.fields
            masking = dict(agreement.masking)
            given_anywhere |= given
            clear |= {name for name in given if name not in masking}
            for name in given & masking.keys():
                kinds.setdefault(name, masking[name])
        masked = {name: kinds[name] for name in given_anywhere - clear}
        return Verdict(clear=frozenset(clear), masked=masked)

    def __repr__(self) -> str:
        def when(moment: datetime | None) -> str:
            if moment is None:
                return "-"
            days = (moment - self.now).days
            return f"now{days:+d}d"

        lines = [f"Policy(caller={self.agency}/{self.purpose}, now={self.now.isoformat()}"]
        for a in self.agreements:
            who = "caller" if a.agency == self.agency else "other"
            why = "purpose" if a.purpose == self.purpose else "other-purpose"
            lines.append(
                f"  agreement {who}/{why}/{a.type} {a.status} "
                f"[{when(a.valid_from)}, {when(a.valid_to)}) fields={sorted(a.fields)} "
                f"via={list(a.via) if a.via else None} consent={a.consent_required} "
                f"masking={dict(a.masking)}"
            )
        for c in self.consents:
            who = "caller" if c.agency == self.agency else "other"
            why = "purpose" if c.purpose == self.purpose else "other-purpose"
            lines.append(
                f"  consent {c.subject} {who}/{why} fields={sorted(c.fields)} "
                f"granted={when(c.granted_at)} expires={when(c.expires_at)} "
                f"revoked={when(c.revoked_at)}"
            )
        return "\n".join([*lines, ")"])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' report
        printer.text(repr(self))


def _empty_policy() -> Policy:
    """No agreement, no consent, for agencies and purposes of its own (unique per example)."""
    tag = uuid.uuid4().hex[:10]
    return Policy(
        agency=f"oracle-{tag}",
        purpose=f"OR{tag.upper()}",
        other_agency=f"oracle-{tag}-other",
        other_purpose=f"OX{tag.upper()}",
        agreements=(),
        consents=(),
        now=datetime.now(UTC),
    )


# The relations reaching each type: an agreement naming one of them applies through it.
VIAS_INTO = {
    RESIDENT: ("Household.head", "Household.members", "Enterprise.legalRepresentatives",
               "Parcel.rights.holder", "Resident.spouse", "Resident.parents",
               "Resident.children"),
    HOUSEHOLD: ("Resident.household",),
    ENTERPRISE: ("Resident.representedEnterprises", "Parcel.rights.holder"),
    PARCEL: ("Resident.parcels",),
}  # fmt: skip


def _mostly(first: T, *others: T) -> st.SearchStrategy[T]:
    """`first` six times in seven, else one of `others`."""
    return st.sampled_from([first] * 6 * len(others) + list(others))


@st.composite
def agreements(draw: st.DrawFn, empty: Policy, type_name: str, *, applicable: bool) -> Agreement:
    """An agreement on `type_name`: with `applicable`, the caller's, for its purpose, approved
    and in force, mostly at the root too; else most often so, not always, and mostly through
    relations only."""
    now, day = empty.now, timedelta(days=1)
    governed = frozenset(GOVERNED[type_name])
    if draw(st.booleans()):  # most of them
        fields = governed - draw(st.frozensets(st.sampled_from(sorted(governed)), max_size=5))
    else:  # a few, and some of the relations
        relations = sorted(n for n in governed if _is_relation(type_name, n))
        fields = draw(st.frozensets(st.sampled_from(sorted(governed)), min_size=1, max_size=5))
        fields |= draw(st.frozensets(st.sampled_from(relations)))
    maskable = sorted(fields & MASKABLE[type_name].keys())
    masked = draw(st.frozensets(st.sampled_from(maskable))) if maskable else frozenset()
    reaches = ["root"] * 3 + ["into"] if applicable else ["root", "into", "into", "any"]
    reach = draw(st.sampled_from(reaches))
    via = (
        None
        if reach == "root"
        else tuple(
            draw(
                st.lists(
                    st.sampled_from(VIAS_INTO[type_name] if reach == "into" else VIAS),
                    min_size=1, max_size=3, unique=True,
                )
            )
        )
    )  # fmt: skip
    in_force = [(now - 30 * day, None), (now - day, now + 30 * day)]
    if applicable:
        agency, purpose, status = empty.agency, empty.purpose, "approved"
        valid_from, valid_to = draw(st.sampled_from(in_force))
    else:
        agency = draw(_mostly(empty.agency, empty.other_agency))
        purpose = draw(_mostly(empty.purpose, empty.other_purpose))
        status = draw(_mostly("approved", "draft", "suspended", "expired"))
        valid_from, valid_to = draw(
            _mostly(*in_force, (now - 30 * day, now - day), (now + 10 * day, None))
        )
    return Agreement(
        agency=agency,
        purpose=purpose,
        type=type_name,
        fields=fields,
        via=via,
        consent_required=draw(
            st.sampled_from([False] * (3 if type_name == RESIDENT else 7) + [True])
        ),
        masking=tuple((name, MASKABLE[type_name][name]) for name in sorted(masked)),
        status=status,
        valid_from=valid_from,
        valid_to=valid_to,
    )


@st.composite
def policies(draw: st.DrawFn, world: World) -> Policy:
    """Per type, one applicable agreement (at the root or through relations only) and up to two
    others (most often applicable, else not for one reason); residents' consents, most live."""
    empty = _empty_policy()
    now, day = empty.now, timedelta(days=1)
    drawn = [
        draw(agreements(empty, type_name, applicable=applicable))
        for type_name in SUBJECT_TYPES
        for applicable in [True, *[False] * draw(st.integers(0, 2))]
    ]
    consents = []
    for _ in range(draw(st.integers(0, 4))):
        granted_at, expires_at, revoked_at = draw(
            _mostly(
                (now - 10 * day, now + 30 * day, None),
                (now - 10 * day, now + 30 * day, now - 2 * day),  # revoked
                (now - 10 * day, now - day, None),  # expired
                (now + day, now + 30 * day, None),  # not yet granted
            )
        )
        consents.append(
            Consent(
                subject=draw(st.sampled_from([*world.present(RESIDENT), world.absent[RESIDENT]])),
                agency=draw(_mostly(empty.agency, empty.other_agency)),
                purpose=draw(_mostly(empty.purpose, empty.other_purpose)),
                fields=draw(st.frozensets(st.sampled_from(GOVERNED[RESIDENT]), min_size=1)),
                granted_at=granted_at,
                expires_at=expires_at,
                revoked_at=revoked_at,
            )
        )
    return replace(empty, agreements=tuple(drawn), consents=tuple(consents))


def _store(url: str, policy: Policy) -> None:
    """The policy in the database, committed; the agreements' trigger bumps the policy version
    counter, so the gateway's agreement cache reloads before its next decision."""
    with psycopg.connect(url) as connection:
        for agency in (policy.agency, policy.other_agency):
            connection.execute(
                "INSERT INTO agencies (client_id, name, kind, status) "
                "VALUES (%s, %s, 'test', 'active')",
                (agency, f"Oracle agency {agency}"),
            )
        for purpose in (policy.purpose, policy.other_purpose):
            connection.execute(
                "INSERT INTO purposes (code, title, procedure) VALUES (%s, %s, 'oracle')",
                (purpose, f"Oracle purpose {purpose}"),
            )
        for n, a in enumerate(policy.agreements):
            connection.execute(
                "INSERT INTO agreements (agreement_id, agency, purpose, subject_type, fields, via, "
                "legal_basis, effective_from, effective_to, consent_required, masking, status, "
                "created_by, approved_by) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'oracle', %s)",
                (
                    f"{a.agency}/{a.purpose}/{a.type}/{n}", a.agency, a.purpose, a.type,
                    sorted(a.fields), list(a.via) if a.via is not None else None,
                    f"Oracle basis {n}", a.valid_from, a.valid_to, a.consent_required,
                    Jsonb(dict(a.masking)), a.status,
                    "oracle" if a.status == "approved" else None,
                ),
            )  # fmt: skip
        for c in policy.consents:
            connection.execute(
                "INSERT INTO consents (consent_id, subject_id, agency, purpose, fields, "
                "granted_at, expires_at, revoked_at, channel) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'online')",
                (
                    str(uuid.uuid4()), c.subject, c.agency, c.purpose, sorted(c.fields),
                    c.granted_at, c.expires_at, c.revoked_at,
                ),
            )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The documents: drawn over the published schema.


@dataclass(frozen=True)
class Field:
    name: str
    alias: str | None = None
    selections: tuple[Selection, ...] = ()

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Inline:
    condition: str | None
    selections: tuple[Selection, ...]


@dataclass(frozen=True)
class Spread:
    name: str


Selection = Field | Inline | Spread


@dataclass(frozen=True)
class Fragment:
    name: str
    condition: str
    selections: tuple[Selection, ...]


@dataclass(frozen=True)
class Lookup:
    """A root field reading subjects by key: `alias: field(argument: keys)`."""

    alias: str
    field: str
    keys: tuple[str, ...]
    selections: tuple[Selection, ...]

    @property
    def type(self) -> str:
        return ROOTS[self.field][0]

    @property
    def batch(self) -> bool:
        return ROOTS[self.field][2]


def _block(selections: Iterable[Selection]) -> str:
    return "{ " + " ".join(_text(s) for s in selections) + " }"


def _text(selection: Selection) -> str:
    if isinstance(selection, Field):
        head = f"{selection.alias}: {selection.name}" if selection.alias else selection.name
        return f"{head} {_block(selection.selections)}" if selection.selections else head
    if isinstance(selection, Inline):
        on = f" on {selection.condition}" if selection.condition else ""
        return f"...{on} {_block(selection.selections)}"
    return f"...{selection.name}"


@dataclass(frozen=True)
class Document:
    lookups: tuple[Lookup, ...]
    fragments: tuple[Fragment, ...]

    @property
    def text(self) -> str:
        roots = []
        for lookup in self.lookups:
            argument = ROOTS[lookup.field][1]
            keys = ", ".join(f'"{key}"' for key in lookup.keys)
            value = f"[{keys}]" if lookup.batch else keys
            roots.append(
                f"{lookup.alias}: {lookup.field}({argument}: {value}) {_block(lookup.selections)}"
            )
        fragments = [f"fragment {f.name} on {f.condition} {_block(f.selections)}" for f in
                     self.fragments]  # fmt: skip
        return "\n".join(["query Oracle { " + " ".join(roots) + " }", *fragments])

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' report
        printer.text(self.text)


def _plain(type_name: str) -> bool:
    """A scalar type: a field of it has no selection set."""
    return type_name not in FIELD_TYPES and type_name not in UNION_MEMBERS


def _is_relation(type_name: str, name: str) -> bool:
    """A field of a subject that reaches other subjects (through a wrapper or not)."""
    target = FIELD_TYPES[type_name][name]
    return type_name in SUBJECT_TYPES and (target in SUBJECT_TYPES or target in WRAPPERS)


class _Drafter:
    """Draws selection sets: at most `hops` relations below a root and `budget` selections in
    all (past it, plain fields only), named fragments on demand."""

    def __init__(self, draw: st.DrawFn, budget: int) -> None:
        self.draw = draw
        self.left = budget
        self.fragments: list[Fragment] = []
        self.names = itertools.count()

    def selections(self, type_name: str, hops: int, most: int = 4) -> tuple[Selection, ...]:
        count = self.draw(st.integers(1, most)) if self.left > 0 else 1
        return tuple(self.selection(type_name, hops) for _ in range(count))

    def alias(self, name: str) -> str | None:
        return self.draw(
            st.sampled_from([None, None, f"{name.strip('_')}A", f"{name.strip('_')}B"])
        )

    def fragment(self, condition: str, hops: int) -> Spread:
        name = f"F{next(self.names)}"
        body = self.selections(condition, hops)
        self.fragments.append(Fragment(name, condition, body))
        return Spread(name)

    def selection(self, type_name: str, hops: int) -> Selection:
        self.left -= 1
        if type_name in UNION_MEMBERS:
            return self.union_selection(type_name, hops)
        if self.left < 0:  # spent: a plain field
            fields = FIELD_TYPES[type_name]
            return Field(self.draw(st.sampled_from(
                [n for n, t in fields.items() if _plain(t) and n not in FLAGS]
            )))  # fmt: skip
        form = self.draw(st.sampled_from(["field"] * 6 + ["typename", "inline", "spread"]))
        if form == "typename":
            return Field("__typename", self.alias("__typename"))
        if form == "spread":
            return self.fragment(type_name, hops)
        if form == "inline":
            return self.inline(type_name, hops)
        return self.field(type_name, hops)

    def inline(self, type_name: str, hops: int) -> Inline:
        conditions: list[str | None] = [None, type_name]
        if type_name in UNION_MEMBERS["RightHolder"]:
            conditions.append("RightHolder")
        condition = self.draw(st.sampled_from(conditions))
        body_type = type_name if condition != "RightHolder" else "RightHolder"
        return Inline(condition, self.selections(body_type, hops))

    def field(self, type_name: str, hops: int) -> Field:
        """A field of the type: a relation half the time while `hops` remain."""
        fields = FIELD_TYPES[type_name]
        relations = [n for n in fields if _is_relation(type_name, n)] if hops > 0 else []
        plain = [n for n in fields if not _is_relation(type_name, n) and n not in FLAGS]
        follow = bool(relations) and self.draw(st.booleans())
        name = self.draw(st.sampled_from(relations if follow else plain))
        if _plain(fields[name]):
            return Field(name, self.alias(name))
        below = hops - 1 if _is_relation(type_name, name) else hops
        return Field(name, self.alias(name), self.selections(fields[name], below))

    def union_selection(self, union: str, hops: int) -> Selection:
        if self.left < 0:
            return Field("__typename")
        member = self.draw(st.sampled_from(UNION_MEMBERS[union]))
        form = self.draw(st.sampled_from(["typename", "inline", "inline", "spread", "bare"]))
        if form == "typename":
            return Field("__typename", self.alias("__typename"))
        if form == "spread":
            return self.fragment(self.draw(st.sampled_from([member, union])), hops)
        if form == "bare":
            return Inline(None, (Field("__typename"),))
        return Inline(member, self.selections(member, hops))


@st.composite
def documents(draw: st.DrawFn, world: World) -> Document:
    drafter = _Drafter(draw, budget=draw(st.integers(4, 50)))
    lookups = []
    for n in range(draw(st.integers(1, 3))):
        root = draw(st.sampled_from(list(ROOTS)))  # the richest in relations first
        type_name, _, batch = ROOTS[root]
        present, absent = world.present(type_name), world.absent[type_name]
        if root in DOCUMENT_ROOTS:
            present, absent = world.documents, world.absent_document
        if batch:  # present and absent keys, in any order
            found = draw(st.lists(st.sampled_from(present), min_size=1, max_size=3))
            keys = tuple(draw(st.permutations([*found, *[absent] * draw(st.integers(1, 2))])))
        else:
            keys = (draw(st.sampled_from([*present, absent])),)
        hops = draw(st.sampled_from([0, 1, 2, 2, 3, 3]))
        lookups.append(Lookup(f"r{n}", root, keys, drafter.selections(type_name, hops, most=5)))
    return Document(tuple(lookups), tuple(drafter.fragments))


def _matches(condition: str | None, runtime_type: str) -> bool:
    return (
        condition is None
        or condition == runtime_type
        or (runtime_type in UNION_MEMBERS.get(condition, ()))
    )


def _collect(
    selections: Iterable[Selection], runtime_type: str, fragments: Mapping[str, Fragment]
) -> dict[str, tuple[str, list[Selection]]]:
    """The fields a selection set asks of an object of `runtime_type`, by response key, each
    with the merged selections below it (GraphQL's CollectFields)."""
    collected: dict[str, tuple[str, list[Selection]]] = {}

    def walk(items: Iterable[Selection]) -> None:
        for item in items:
            if isinstance(item, Field):
                collected.setdefault(item.key, (item.name, []))[1].extend(item.selections)
            elif isinstance(item, Inline):
                if _matches(item.condition, runtime_type):
                    walk(item.selections)
            elif _matches(fragments[item.name].condition, runtime_type):
                walk(fragments[item.name].selections)

    walk(selections)
    return collected


def _measure(selections: Iterable[Selection], fragments: Mapping[str, Fragment]) -> tuple[int, int]:
    """(depth, cost) of a selection set: fields counted, those below a list field ×10."""
    depth, cost = 0, 0
    for item in selections:
        if isinstance(item, Field):
            below_depth, below_cost = _measure(item.selections, fragments)
            depth = max(depth, 1 + below_depth)
            cost += 1 + below_cost * (LIST_ESTIMATE if item.name in LISTS else 1)
        else:
            body = item.selections if isinstance(item, Inline) else fragments[item.name].selections
            below_depth, below_cost = _measure(body, fragments)
            depth, cost = max(depth, below_depth), cost + below_cost
    return depth, cost


def _aliases(selections: Iterable[Selection]) -> int:
    return sum(
        (bool(s.alias) + _aliases(s.selections)) if isinstance(s, Field)
        else _aliases(s.selections) if isinstance(s, Inline) else 0
        for s in selections
    )  # fmt: skip


def _admissible(document: Document) -> bool:
    """Within what the gateway admits: its depth, cost, token and alias limits."""
    fragments = {f.name: f for f in document.fragments}
    aliases = sum(1 + _aliases(lookup.selections) for lookup in document.lookups) + sum(
        _aliases(f.selections) for f in document.fragments
    )
    depth, cost = 0, 0
    for lookup in document.lookups:
        below_depth, below_cost = _measure(lookup.selections, fragments)
        depth = max(depth, 1 + below_depth)
        cost += 1 + below_cost * len(lookup.keys)
    try:
        parse(document.text, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return False
    return depth <= MAX_DEPTH and cost <= MAX_COST and aliases <= MAX_ALIASES


# --------------------------------------------------------------------------------------------
# The oracle: the answer and the access log, from the registry rows and the policy alone.


@dataclass
class Disclosed:
    given: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    absent: bool = False  # looked up at the root, visible, and not in the registry
    refused: bool = False  # refused whole somewhere in the answer
    looked_up: bool = False  # named by key at the root: logged whatever the answer


LogRow = tuple[str, str, list[str], list[str], list[str], bool]


def _mask(kind: str, value: Json) -> Json:
    if value is None:
        return None
    if kind == "year_only":
        return str(value)[:4]
    if kind == "last4":
        text = str(value)
        return "*" * max(0, len(text) - 4) + text[-4:]
    if kind == "initials":
        return " ".join(f"{word[0]}." for word in str(value).split())
    if kind == "province_only":
        return {**value, "communeCode": None, "communeName": None, "line": None}
    raise AssertionError(kind)


class Amount(str):
    """A Decimal as the answer writes it: equal to any text of the same number ("5.0E+9" is
    5000000000: how a Decimal is spelled is not what this oracle checks)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and Decimal(self) == Decimal(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(Decimal(self))


def _instant(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


KEY_COLUMNS = {RESIDENT: "personal_id", HOUSEHOLD: "household_id",
               ENTERPRISE: "enterprise_code", PARCEL: "parcel_id"}  # fmt: skip
At = tuple[str | int, ...]  # a path in the answer
Relation = Callable[[Mapping[str, Any], At, Sequence[Selection]], tuple[Json, bool]]


class Oracle:
    """The answer a document should get under a policy, the errors, and the access log, from
    the registry rows and the policy alone."""

    def __init__(self, registry: Registry, policy: Policy, document: Document) -> None:
        self.registry = registry
        self.policy = policy
        self.fragments = {f.name: f for f in document.fragments}
        self.errors: list[tuple[At, str]] = []  # (path, "Type.field" or REFUSED)
        self.log: dict[tuple[str, str], Disclosed] = defaultdict(Disclosed)
        self.nested = 0  # related subjects written
        # Each relation field: (its value, whether it is refused for a subject it reaches)
        self.relations: dict[tuple[str, str], Relation] = {
            (RESIDENT, "household"): self.household,
            (RESIDENT, "parcels"): self.parcels,
            (RESIDENT, "representedEnterprises"): self.represented_enterprises,
            (RESIDENT, "spouse"): self.spouse,
            (RESIDENT, "parents"): self.parents_of,
            (RESIDENT, "children"): self.children_of,
            (HOUSEHOLD, "head"): self.head,
            (HOUSEHOLD, "members"): self.members,
            (ENTERPRISE, "legalRepresentatives"): self.legal_representatives,
            (PARCEL, "rights"): self.rights,
        }

    # The answer

    def answer(self, document: Document) -> dict[str, Json]:
        data: dict[str, Json] = {}
        for lookup in document.lookups:
            rows = self.registry.rows[lookup.type]
            by_document = lookup.field in DOCUMENT_ROOTS
            # a card number no one holds is looked up, and logged, as itself
            keys = [self.registry.holders.get(k, k) if by_document else k for k in lookup.keys]
            found = [
                self.subject(lookup.type, key, rows.get(key), None,
                             (lookup.alias, i) if lookup.batch else (lookup.alias,),
                             lookup.selections, root=True, echo=not by_document)[0]
                for i, key in enumerate(keys)
            ]  # fmt: skip
            data[lookup.alias] = found if lookup.batch else found[0]
        return data

    def subject(
        self,
        type_name: str,
        key: str,
        row: Mapping[str, Any] | None,
        via: str | None,
        path: At,
        selections: Sequence[Selection],
        *,
        root: bool = False,
        echo: bool = True,
    ) -> tuple[Json, bool]:
        """One subject reached at `path`: (its value, whether it is refused). A root subject's
        key is echoed (`echo`) when it is the key the caller sent."""
        asked = _collect(selections, type_name, self.fragments)
        entry = self.log[type_name, key]
        entry.looked_up |= root
        verdict = self.policy.verdict(type_name, key, via)
        if not verdict.visible:
            self.errors.append((path, REFUSED))
            entry.refused = True
            entry.denied |= {name for name, _ in asked.values() if name != "__typename"}
            return None, True
        if row is None:  # a root lookup of an absent key, or a link not resolved
            entry.absent |= root
            return None, False
        self.nested += not root
        value: dict[str, Json] = {}
        for response_key, (name, below) in asked.items():
            if name == "__typename":
                value[response_key] = type_name
            elif root and echo and name == KEY_FIELDS[type_name]:
                value[response_key] = key  # the caller's own key
                entry.given.add(name)
            else:
                here = (*path, response_key)
                value[response_key] = self.governed(type_name, row, name, verdict, here, below)
        return value, False

    def related(
        self, type_name: str, key: str, via: str, path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        row = self.registry.rows[type_name].get(key)
        assert row is not None, f"the world links to {type_name} {key}, which it lacks"
        return self.subject(type_name, key, row, via, path, selections)

    def governed(
        self,
        type_name: str,
        row: Mapping[str, Any],
        name: str,
        verdict: Verdict,
        path: At,
        selections: Sequence[Selection],
    ) -> Json:
        """A field of a visible subject: given, masked, or null with FORBIDDEN."""
        entry = self.log[type_name, str(row[KEY_COLUMNS[type_name]])]
        outcome, kind = verdict.outcome(name)
        if outcome == "deny":
            self.errors.append((path, f"{type_name}.{name}"))
            entry.denied.add(name)
            return None
        if (type_name, name) in self.relations:
            value, refused = self.relations[type_name, name](row, path, selections)
            (entry.denied if refused else entry.given).add(name)
            return value
        value = self.plain(type_name, row)[name]
        if kind is None:
            entry.given.add(name)
        else:
            value = _mask(kind, value)
            entry.masked.add(name)
        return self.render(FIELD_TYPES[type_name][name], value, selections)

    # The relations

    def household(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        if row["household_id"] is None:
            return None, False  # no household: null, and nothing refused
        return self.related(HOUSEHOLD, row["household_id"], "Resident.household", path, selections)

    def spouse(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        """The spouse the row names: refused or not whether the registry holds them or not;
        null when it does not (a link not yet resolved)."""
        key = row["spouse_id"]
        if key is None:
            return None, False
        found = self.registry.rows[RESIDENT].get(key)
        return self.subject(RESIDENT, key, found, "Resident.spouse", path, selections)

    def parents_of(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        keys = [k for k in dict.fromkeys((row["father_id"], row["mother_id"])) if k is not None]
        return self.kin(keys, "Resident.parents", path, selections)

    def children_of(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        keys = self.registry.children.get(row["personal_id"], [])
        return self.kin(keys, "Resident.children", path, selections)

    def kin(
        self, keys: Sequence[str], via: str, path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        """Relatives by key, each decided before read: all visible, or the list refused whole
        (each refused one logged, present or not); those the registry lacks left out."""
        refused = [k for k in keys if not self.policy.verdict(RESIDENT, k, via).visible]
        if refused:
            asked = {name for name, _ in _collect(selections, RESIDENT, self.fragments).values()}
            for key in refused:
                self.log[RESIDENT, key].refused = True
                self.log[RESIDENT, key].denied |= asked - {"__typename"}
            self.errors.append((path, REFUSED))
            return None, True
        rows = self.registry.rows[RESIDENT]
        present = [k for k in keys if k in rows]
        return [
            self.subject(RESIDENT, key, rows[key], via, (*path, i), selections)[0]
            for i, key in enumerate(present)
        ], False

    def head(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        return self.related(RESIDENT, row["head_id"], "Household.head", path, selections)

    def members(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        members = self.registry.members.get(row["household_id"], [])
        return [
            self.element("HouseholdMember", RESIDENT, member, "Household.members", (*path, i),
                         selections)
            for i, member in enumerate(members)
        ], False  # fmt: skip

    def legal_representatives(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        links = self.registry.representatives.get(row["enterprise_code"], [])
        return [
            self.element("LegalRepresentative", RESIDENT, person,
                         "Enterprise.legalRepresentatives", (*path, i), selections, title)
            for i, (person, title) in enumerate(links)
        ], False  # fmt: skip

    def represented_enterprises(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        links = self.registry.represented.get(row["personal_id"], [])
        return [
            self.element("Representation", ENTERPRISE, code, "Resident.representedEnterprises",
                         (*path, i), selections, title)
            for i, (code, title) in enumerate(links)
        ], False  # fmt: skip

    def parcels(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        """All the parcels held, or none: one refused parcel refuses the whole list."""
        via, held = "Resident.parcels", self.registry.held.get(row["personal_id"], [])
        refused = [p for p in held if not self.policy.verdict(PARCEL, p, via).visible]
        if refused:
            asked = {name for name, _ in _collect(selections, PARCEL, self.fragments).values()}
            for parcel in refused:
                self.log[PARCEL, parcel].refused = True
                self.log[PARCEL, parcel].denied |= asked - {"__typename"}
            self.errors.append((path, REFUSED))
            return None, True
        return [
            self.related(PARCEL, parcel, via, (*path, i), selections)[0]
            for i, parcel in enumerate(held)
        ], False

    def rights(
        self, row: Mapping[str, Any], path: At, selections: Sequence[Selection]
    ) -> tuple[Json, bool]:
        answer = []
        for i, right in enumerate(self.registry.rights.get(row["parcel_id"], [])):
            value: dict[str, Json] = {}
            for response_key, (name, below) in _collect(
                selections, "ParcelRight", self.fragments
            ).items():
                if name == "holder":
                    holder_type = RESIDENT if right["holder_kind"] == "resident" else ENTERPRISE
                    value[response_key], _ = self.related(
                        holder_type, right["holder_id"], "Parcel.rights.holder",
                        (*path, i, response_key), below,
                    )  # fmt: skip
                else:
                    value[response_key] = {
                        "__typename": "ParcelRight",
                        "kind": right["kind"],
                        "certificateNumber": right["certificate_number"],
                        "sharePercent": float(right["share_percent"]),
                        "since": right["since"].isoformat() if right["since"] else None,
                    }[name]
            answer.append(value)
        return answer, False

    def element(
        self,
        wrapper: str,
        type_name: str,
        key: str,
        via: str,
        path: At,
        selections: Sequence[Selection],
        title: str | None = None,
    ) -> dict[str, Json]:
        """An element of a relation list: the subject it reaches (`resident`, `enterprise`) and
        its own fields; a member's `relationshipToHead` is the member's governed field."""
        value: dict[str, Json] = {}
        for response_key, (name, below) in _collect(selections, wrapper, self.fragments).items():
            here = (*path, response_key)
            if name == "__typename":
                value[response_key] = wrapper
            elif name == "title":
                value[response_key] = title
            elif name == "relationshipToHead":
                row = self.registry.rows[RESIDENT][key]
                verdict = self.policy.verdict(RESIDENT, key, via)
                value[response_key] = self.governed(RESIDENT, row, name, verdict, here, below)
            else:  # the resident or the enterprise
                value[response_key], _ = self.related(type_name, key, via, here, below)
        return value

    # Plain values

    def address(self, commune_code: int | None, line: str | None) -> dict[str, Json] | None:
        if commune_code is None and not line:
            return None
        commune = self.registry.communes.get(commune_code) if commune_code else None
        return {
            "communeCode": commune_code,
            "communeName": commune[0] if commune else None,
            "provinceCode": commune[1] if commune else None,
            "provinceName": commune[2] if commune else None,
            "line": line,
            "former": None,
        }

    def plain(self, type_name: str, row: Mapping[str, Any]) -> dict[str, Json]:
        """The values of a subject's fields that are not relations, in clear."""
        version = {
            "validFrom": _instant(row["valid_from"]),
            "validTo": _instant(row["valid_to"]),
            "recordedAt": _instant(row["recorded_at"]),
        }
        if type_name == RESIDENT:
            return {
                "id": row["personal_id"],
                "recordVersion": version,
                "fullName": row["full_name"],
                "birthDate": row["birth_date"].isoformat(),
                "sex": row["sex"],
                "ethnicity": self.registry.ethnic_groups.get(row["ethnicity_code"]),
                "religion": row["religion"],
                "nationality": row["nationality"],
                "placeOfBirth": row["place_of_birth"],
                "hometown": row["hometown"],
                "permanentAddress": self.address(
                    row["permanent_commune_code"], row["permanent_address_line"]
                ),
                "temporaryAddress": self.address(
                    row["temporary_commune_code"], row["temporary_address_line"]
                ),
                "relationshipToHead": row["relationship_to_head"],
                "maritalStatus": row["marital_status"],
                "fatherId": row["father_id"],
                "motherId": row["mother_id"],
                "spouseId": row["spouse_id"],
                "deceased": row["deceased"],
                "deceasedOn": row["deceased_on"].isoformat() if row["deceased_on"] else None,
            }
        if type_name == HOUSEHOLD:
            return {
                "id": row["household_id"],
                "recordVersion": version,
                "headId": row["head_id"],
                "address": self.address(row["commune_code"], row["address_line"]),
            }
        if type_name == ENTERPRISE:
            return {
                "code": row["enterprise_code"],
                "recordVersion": version,
                "name": row["name"],
                "foreignName": row["foreign_name"],
                "shortName": row["short_name"],
                "type": row["enterprise_type"],
                "status": row["status"],
                "registeredOn": row["registered_on"].isoformat(),
                "charterCapital": Amount(row["charter_capital"]),
                "headOffice": self.address(
                    row["head_office_commune_code"], row["head_office_address_line"]
                ),
                "businessLines": self.registry.business_lines.get(row["enterprise_code"], []),
            }
        return {
            "id": row["parcel_id"],
            "recordVersion": version,
            "parcelNumber": row["parcel_number"],
            "mapSheet": row["map_sheet"],
            "address": self.address(row["commune_code"], row["address_line"]),
            "area": float(row["declared_area"]),
            "landUse": self.registry.land_use.get(row["land_use_code"]),
            "geometry": json.loads(json.dumps(mapping(wkb.loads(bytes(row["wkb"]))))),
        }

    def render(self, type_name: str, value: Json, selections: Sequence[Selection]) -> Json:
        """A plain value as the selection asks for it (an object's fields picked by it)."""
        if value is None or type_name not in FIELD_TYPES:
            return value
        if isinstance(value, list):
            return [self.render(type_name, item, selections) for item in value]
        shown: dict[str, Json] = {}
        for response_key, (name, _) in _collect(selections, type_name, self.fragments).items():
            if name == "__typename":
                shown[response_key] = type_name
            elif (type_name, name) == ("Address", "fullAddress"):
                parts = (value["line"], value["communeName"], value["provinceName"])
                shown[response_key] = ", ".join(part for part in parts if part)
            else:
                shown[response_key] = value[name]
        return shown

    # The errors and the access log

    def expected_errors(self) -> list[tuple[list[str | int], str, str]]:
        return sorted(([*path], "FORBIDDEN", name) for path, name in self.errors)

    def expected_log(self) -> list[LogRow]:
        rows = [
            (AUDIT_NAMES[type_name], key, sorted(entry.given), sorted(entry.masked),
             sorted(entry.denied - entry.given - entry.masked), entry.absent)
            for (type_name, key), entry in self.log.items()
            # every lookup by key has a row; a subject reached through a relation that wrote
            # nothing and was refused nothing has none
            if entry.looked_up or entry.refused or entry.given or entry.masked or entry.denied
        ]  # fmt: skip
        return sorted(rows)


# --------------------------------------------------------------------------------------------
# The harness: the module's own database and gateway.


@dataclass(repr=False)
class Harness:
    """The module's gateway (in process, lifespan run) over its own committed world."""

    settings: Settings
    world: World
    registry: Registry
    client: httpx.AsyncClient
    issuer: DevIssuer

    def __repr__(self) -> str:
        return f"Harness({self.world})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' report
        printer.text(repr(self))

    async def ask(self, policy: Policy, document: Document) -> tuple[dict[str, Json], str]:
        request_id = f"oracle-{uuid.uuid4().hex}"
        token = self.issuer.mint(agency=policy.agency, roles=("agency",))
        answer = await self.client.post(
            "/graphql",
            json={"query": document.text},
            headers={
                "Authorization": f"Bearer {token}",
                "X-Purpose": policy.purpose,
                "X-Request-Id": request_id,
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Correlation-Id"] == request_id  # ours, kept beside the server's
        body: dict[str, Json] = answer.json()
        return body, answer.headers["X-Request-Id"]

    def access_log(self, request_id: str) -> list[LogRow]:
        with psycopg.connect(self.settings.libpq_url) as connection:
            rows = connection.execute(
                "SELECT subject_type, subject_id, fields_given, fields_masked, fields_denied, "
                "decision->>'outcome' FROM access_log WHERE request_id = %s",
                (request_id,),
            ).fetchall()
        return sorted(
            (t, key, sorted(given), sorted(masked), sorted(denied), outcome == "absent")
            for t, key, given, masked, denied, outcome in rows
        )


@pytest.fixture(scope="module")
async def harness(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Harness]:
    settings = Settings(
        database_url=committed_database_url, home=tmp_path_factory.mktemp("oracle-home")
    )
    engine = create_engine(settings, pool_size=2)
    try:
        world = await _build_world(engine)
    finally:
        await engine.dispose()
    registry = _read_registry(settings.libpq_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        try:
            yield Harness(settings, world, registry, client, DevIssuer(settings))
        finally:
            await client.aclose()


def _differences(got: Json, expected: Json, path: At = ()) -> list[str]:
    """Where two answers differ, as `path: got != expected` lines."""
    if isinstance(got, dict) and isinstance(expected, dict):
        return [
            line
            for key in [*expected, *(k for k in got if k not in expected)]
            for line in _differences(got.get(key, "(missing)"), expected.get(key, "(missing)"),
                                     (*path, key))
        ]  # fmt: skip
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        return [
            line
            for i, (item, wanted) in enumerate(zip(got, expected, strict=True))
            for line in _differences(item, wanted, (*path, i))
        ]
    if got == expected:
        return []
    return [f"    {list(path)}: got {got!r}, expected {expected!r}"]


def _side_by_side(got: Sequence[object], expected: Sequence[object]) -> str:
    def lines(items: Sequence[object]) -> str:
        return "\n".join(f"    {item}" for item in items) or "    (none)"

    return f"\n  got:\n{lines(got)}\n  expected:\n{lines(expected)}"


def _check(
    harness: Harness, policy: Policy, document: Document, body: dict[str, Json], request_id: str
) -> Oracle:
    oracle = Oracle(harness.registry, policy, document)
    expected_data = oracle.answer(document)
    expected_errors = oracle.expected_errors()
    refusals = {tuple(path) for path, _, name in expected_errors if name == REFUSED}
    errors = body.get("errors") or []
    got_errors = [
        (
            error.get("path"),
            error.get("extensions", {}).get("code"),
            REFUSED
            if tuple(error.get("path") or ()) in refusals
            else error.get("extensions", {}).get("field"),
        )
        for error in errors
    ]
    assert body.get("data") == expected_data, "\n" + "\n".join(
        _differences(body.get("data"), expected_data)[:30]
    )
    assert got_errors == expected_errors, _side_by_side(got_errors, expected_errors)
    # A refusal says nothing of the subject: at the same field, the same message and extensions
    # for every one (the field's name is the caller's own query, not the subject's)
    shapes: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for error in errors:
        if tuple(error["path"]) in refusals:
            extensions = error.get("extensions") or {}
            shape = (error["message"], json.dumps(extensions, sort_keys=True))
            shapes[str(extensions.get("field"))].add(shape)
    differing = {name: found for name, found in shapes.items() if len(found) > 1}
    assert not differing, f"refusals differ: {differing}"
    logged, expected_log = harness.access_log(request_id), oracle.expected_log()
    assert logged == expected_log, _side_by_side(logged, expected_log)
    return oracle


def _events(oracle: Oracle) -> None:
    """What an example exercised (--hypothesis-show-statistics counts them)."""
    for path, name in oracle.errors:
        event(
            f"{'root' if len(path) <= 2 else 'nested'} {'refusal' if name == REFUSED else 'denial'}"
        )
    if any(entry.masked for entry in oracle.log.values()):
        event("a masked value written")
    if any(entry.absent for entry in oracle.log.values()):
        event("a visible absent key")
    if oracle.nested:
        event("a related subject written")


@settings(
    max_examples=150,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_the_gateway_answers_as_the_oracle(harness: Harness, data: st.DataObject) -> None:
    policy = data.draw(policies(harness.world), label="policy")
    document = data.draw(documents(harness.world), label="document")
    assume(_admissible(document))
    assert validate(PUBLISHED_SCHEMA, parse(document.text)) == [], document.text
    _store(harness.settings.libpq_url, policy)
    body, request_id = await harness.ask(policy, document)
    _events(_check(harness, policy, document, body, request_id))


def test_the_oracle_reads_the_published_schema() -> None:
    """The oracle's picture of each object type is the published schema's, field for field."""
    for type_name, fields in FIELD_TYPES.items():
        published = PUBLISHED_SCHEMA.get_type(type_name)
        assert isinstance(published, GraphQLObjectType), type_name
        assert {
            name: get_named_type(definition.type).name
            for name, definition in published.fields.items()
        } == fields, type_name
    holder = PUBLISHED_SCHEMA.get_type("RightHolder")
    assert {t.name for t in getattr(holder, "types", ())} == set(UNION_MEMBERS["RightHolder"])


async def test_every_refused_subject_is_refused_alike(harness: Harness) -> None:
    """No agreement at all: every lookup — of each type, present or absent, alone or in a
    batch — is refused with the very same error, and the access log refuses what was asked."""
    world = harness.world
    policy = _empty_policy()
    lookups = [
        Lookup("a", "resident", (world.head,), (Field("fullName"),)),
        Lookup("b", "resident", (world.absent[RESIDENT],), (Field("fullName"),)),
        Lookup("c", "residents", (world.wife, world.absent[RESIDENT]), (Field("id"),)),
        Lookup("d", "household", (world.household,), (Field("headId"),)),
        Lookup("e", "enterprise", (world.absent[ENTERPRISE],), (Field("name"),)),
        Lookup("f", "enterprises", (world.firm,), (Field("code"), Field("__typename"))),
        Lookup("g", "parcel", (world.home_parcel,), (Field("area"),)),
    ]
    document = Document(tuple(lookups), ())
    _store(harness.settings.libpq_url, policy)
    body, request_id = await harness.ask(policy, document)
    _check(harness, policy, document, body, request_id)
    assert len(body["errors"]) == 8
    # one reason for all, whatever the type, the key or its existence; the field is the
    # caller's own root field
    assert len({e["extensions"]["reason"] for e in body["errors"]}) == 1
    assert {e["extensions"]["field"] for e in body["errors"]} == {
        "resident", "residents", "household", "enterprise", "enterprises", "parcel"
    }  # fmt: skip


def _everything(type_name: str, **relations: tuple[Selection, ...]) -> tuple[Selection, ...]:
    """Every plain field of a type (objects with all their fields), and the relations given."""
    selections: list[Selection] = []
    for name, target in FIELD_TYPES[type_name].items():
        if name in FLAGS:
            continue
        if _is_relation(type_name, name):
            if name in relations:
                selections.append(Field(name, selections=relations[name]))
        elif target in FIELD_TYPES:
            selections.append(Field(name, selections=_all_of(target)))
        else:
            selections.append(Field(name))
    return tuple(selections)


def _all_of(type_name: str) -> tuple[Selection, ...]:
    """Every field of a plain object type, objects within it (`Address.former`) included."""
    return tuple(
        Field(name, selections=_all_of(target)) if target in FIELD_TYPES else Field(name)
        for name, target in FIELD_TYPES[type_name].items()
    )


async def test_everything_given_is_the_registry_as_it_is(harness: Harness) -> None:
    """Agreements giving every field of every type, in clear and through any relation: the
    answer is the registry itself, every relation followed, and nothing is refused."""
    world = harness.world
    empty = _empty_policy()
    policy = replace(
        empty,
        agreements=tuple(
            Agreement(
                agency=empty.agency, purpose=empty.purpose, type=type_name,
                fields=frozenset(GOVERNED[type_name]), via=None, consent_required=False,
                masking=(), status="approved", valid_from=empty.now - timedelta(days=1),
                valid_to=None,
            )
            for type_name in SUBJECT_TYPES
        ),
    )  # fmt: skip
    holder = (
        Field("__typename"),
        Inline(RESIDENT, (Field("id"), Field("fullName"))),
        Inline(ENTERPRISE, (Field("code"), Field("name"))),
    )
    rights = (*map(Field, ("kind", "certificateNumber", "sharePercent", "since")),
              Field("holder", selections=holder))  # fmt: skip
    parcel = _everything(PARCEL, rights=rights)
    enterprise = _everything(
        ENTERPRISE,
        legalRepresentatives=(Field("title"), Field("resident", selections=(Field("id"),))),
    )
    household = _everything(
        HOUSEHOLD,
        head=(Field("id"),),
        members=(Field("relationshipToHead"), Field("resident", selections=(Field("id"),))),
    )
    resident = _everything(
        RESIDENT,
        household=household,
        parcels=parcel,
        representedEnterprises=(Field("title"), Field("enterprise", selections=enterprise)),
    )
    document = Document(
        (
            Lookup("people", "residents", (*world.present(RESIDENT), world.absent[RESIDENT]),
                   resident),
            Lookup("firms", "enterprises", world.present(ENTERPRISE), enterprise),
            Lookup("land", "parcel", (world.shared_parcel,), parcel),
        ),
        (),
    )  # fmt: skip
    assert _admissible(document), document.text
    _store(harness.settings.libpq_url, policy)
    body, request_id = await harness.ask(policy, document)
    assert "errors" not in body
    _check(harness, policy, document, body, request_id)


def _agreement(empty: Policy, type_name: str, fields: Iterable[str], **more: Any) -> Agreement:
    values: dict[str, Any] = {
        "agency": empty.agency, "purpose": empty.purpose, "type": type_name,
        "fields": frozenset(fields), "via": None, "consent_required": False, "masking": (),
        "status": "approved", "valid_from": empty.now - timedelta(days=1), "valid_to": None,
    }  # fmt: skip
    return Agreement(**{**values, **more})


FAMILY = (Field("id"), Field("fullName"), Field("deceased"), Field("deceasedOn"))


def _family_document(world: World) -> Document:
    """Every card number (and one no resident holds) looked up, and every resident with their
    spouse, parents and children."""
    kin = (
        *FAMILY,
        Field("spouse", selections=FAMILY),
        Field("parents", selections=FAMILY),
        Field("children", selections=(*FAMILY, Field("parents", selections=(Field("id"),)))),
    )
    return Document(
        (
            *(
                Lookup(f"card{n}", "residentByDocument", (number,), kin)
                for n, number in enumerate((*world.documents, world.absent_document))
            ),
            Lookup("people", "residents", world.present(RESIDENT), kin),
        ),
        (),
    )


async def test_family_links_and_card_numbers_follow_the_oracle(harness: Harness) -> None:
    """Root agreements giving every resident field, and relatives through every family
    relation: card numbers resolve to their holders (the personal ID governed, not echoed), an
    unknown card number is an attempt logged under itself, a death is given, relatives are
    listed, a link to a person not in the registry is left out."""
    world = harness.world
    empty = _empty_policy()
    policy = replace(
        empty,
        agreements=(
            _agreement(empty, RESIDENT, GOVERNED[RESIDENT]),
            _agreement(empty, RESIDENT, ("id", "fullName", "deceased", "deceasedOn", "parents"),
                       via=("Resident.spouse", "Resident.parents", "Resident.children")),
        ),
    )  # fmt: skip
    document = _family_document(world)
    assert _admissible(document), document.text
    _store(harness.settings.libpq_url, policy)
    body, request_id = await harness.ask(policy, document)
    assert "errors" not in body
    _check(harness, policy, document, body, request_id)
    data = body["data"]
    head, wife, loner = (data[f"card{n}"] for n in range(3))
    assert (head["id"], head["spouse"]["id"]) == (world.head, world.wife)
    assert wife["children"][0]["id"] == world.child
    assert {p["id"] for p in wife["children"][0]["parents"]} == {world.head, world.wife}
    assert (loner["deceased"], loner["deceasedOn"], loner["parents"]) == (True, "2024-03-01", [])
    assert data["card3"] is None  # nobody holds it
    logged = {key: outcome for _, key, *_, outcome in harness.access_log(request_id)}
    assert logged[world.absent_document] is True  # an attempt, under the number itself


async def test_relatives_without_an_agreement_through_their_relation_are_refused(
    harness: Harness,
) -> None:
    """Each relative reached is decided on its own: an agreement that needs consent gives the
    head (who consented) but neither the wife nor the child, so `spouse` and `children` are
    refused whole and nothing of them leaks; an agreement without the relation fields refuses
    the fields themselves; and a lookup by card number the agreement does not reach at the root
    is refused alike, held or not."""
    world = harness.world
    empty = _empty_policy()
    asked = ("fullName", "spouse", "parents", "children")
    policy = replace(
        empty,
        agreements=(_agreement(empty, RESIDENT, asked, consent_required=True),),
        consents=(
            Consent(world.head, empty.agency, empty.purpose, frozenset(asked),
                    empty.now - timedelta(days=1), empty.now + timedelta(days=30), None),
        ),
    )  # fmt: skip
    kin = (Field("fullName"), *(Field(name, selections=(Field("fullName"),)) for name in asked[1:]))
    document = Document((Lookup("head", "resident", (world.head,), kin),), ())
    _store(harness.settings.libpq_url, policy)
    body, request_id = await harness.ask(policy, document)
    oracle = _check(harness, policy, document, body, request_id)
    head = body["data"]["head"]
    assert (head["fullName"], head["spouse"], head["parents"], head["children"]) == (
        "Trần Văn Bình", None, [], None,
    )  # fmt: skip
    assert sorted(e["path"][-1] for e in body["errors"]) == ["children", "spouse"]
    refused = {key for (_, key), entry in oracle.log.items() if entry.refused}
    assert refused == {world.wife, world.child}
    # the relation fields outside the agreement: refused as fields, no relative reached
    bare = _empty_policy()
    bare = replace(bare, agreements=(_agreement(bare, RESIDENT, ("fullName",)),))
    _store(harness.settings.libpq_url, bare)
    body, request_id = await harness.ask(bare, document)
    oracle = _check(harness, bare, document, body, request_id)
    assert sorted(e["extensions"]["field"] for e in body["errors"]) == [
        "Resident.children", "Resident.parents", "Resident.spouse",
    ]  # fmt: skip
    assert {key for _, key in oracle.log} == {world.head}
    # no agreement at the root: every card number refused alike, held or not
    closed = _empty_policy()
    lookups = tuple(
        Lookup(f"c{n}", "residentByDocument", (number,), (Field("fullName"),))
        for n, number in enumerate((*world.documents, world.absent_document))
    )
    refusals = Document(lookups, ())
    _store(harness.settings.libpq_url, closed)
    body, request_id = await harness.ask(closed, refusals)
    _check(harness, closed, refusals, body, request_id)
    assert body["data"] == {f"c{n}": None for n in range(4)}
    assert [e["path"] for e in body["errors"]] == [[f"c{n}"] for n in range(4)]
    assert len({(e["message"], json.dumps(e["extensions"])) for e in body["errors"]}) == 1
