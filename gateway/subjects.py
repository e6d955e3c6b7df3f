"""The one declaration of each subject kind: what every layer of the gateway reads about it.

A subject is a registry record whose disclosure is decided by policy and recorded in the access
log: a resident, a household, an enterprise, a parcel. Its key and the key's validator, the
registry table and the loader reading it by key, its name in the access log, whether its
disclosures depend on its own consents, the relations that reach other subjects (with the `via`
names agreements use), and which of its fields are identifiers or metadata are declared here
once; the GraphQL types, the guard, the compiled plans, the prefill forms and the admin API's
validation and explanations read them from here, and no second list exists.

Invariant: every field of a subject's GraphQL type is governed (decided by its grant), identifiers
and metadata included; the only value given without a decision is the key the caller itself sent
at the root of the query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registries.enterprises.models import Enterprise
from registries.identifiers import (
    validate_enterprise_code,
    validate_household_id,
    validate_parcel_id,
    validate_personal_id,
)
from registries.parcels.models import Parcel
from registries.residents.models import Household, Resident


@dataclass(frozen=True)
class Relation:
    """A field of `owner` that reaches subjects of `targets`; agreements name it by `via`."""

    owner: str
    field: str  # the GraphQL field on the owner where the relation starts
    via: str
    targets: tuple[str, ...]
    many: bool
    key_attribute: str | None = None  # a single relation: the owner record's attribute with the key


@dataclass(frozen=True)
class SubjectKind:
    name: str  # the GraphQL type, and the policy's `type`
    audit_name: str  # the access log's subject_type
    registry: str  # the registry table, also named in a prefill's provenance
    domain: str  # the registry whose stewards decide who sees it (STEWARDED_DOMAINS)
    model: type[Any]
    key_attribute: str  # the business key on the registry record
    key_field: str  # the GraphQL field (and root argument) carrying the key
    validate: Callable[[str], str]
    loader: str  # the per-request DataLoader reading it by key
    consenting: bool  # its own consents can open fields to an agency
    root_field: str  # the root query field reading one by key
    identifiers: frozenset[str]  # fields whose value is another identifier
    metadata: frozenset[str] = frozenset({"recordVersion"})


SUBJECT_KINDS: dict[str, SubjectKind] = {
    kind.name: kind
    for kind in (
        SubjectKind(
            name="Resident",
            audit_name="resident",
            registry="residents",
            domain="population",
            model=Resident,
            key_attribute="personal_id",
            key_field="id",
            validate=validate_personal_id,
            loader="residents",
            consenting=True,
            root_field="resident",
            identifiers=frozenset({"id", "fatherId", "motherId", "spouseId"}),
        ),
        SubjectKind(
            name="Household",
            audit_name="household",
            registry="households",
            domain="population",
            model=Household,
            key_attribute="household_id",
            key_field="id",
            validate=validate_household_id,
            loader="households",
            consenting=False,
            root_field="household",
            identifiers=frozenset({"id", "headId"}),
        ),
        SubjectKind(
            name="Enterprise",
            audit_name="enterprise",
            registry="enterprises",
            domain="enterprise",
            model=Enterprise,
            key_attribute="enterprise_code",
            key_field="code",
            validate=validate_enterprise_code,
            loader="enterprises",
            consenting=False,
            root_field="enterprise",
            identifiers=frozenset({"code"}),
        ),
        SubjectKind(
            name="Parcel",
            audit_name="parcel",
            registry="parcels",
            domain="land",
            model=Parcel,
            key_attribute="parcel_id",
            key_field="id",
            validate=validate_parcel_id,
            loader="parcels",
            consenting=False,
            root_field="parcel",
            identifiers=frozenset({"id"}),
        ),
    )
}

RELATIONS: dict[str, Relation] = {
    relation.via: relation
    for relation in (
        Relation(
            "Resident",
            "household",
            "Resident.household",
            ("Household",),
            many=False,
            key_attribute="household_id",
        ),
        Relation("Resident", "parcels", "Resident.parcels", ("Parcel",), many=True),
        Relation(
            "Resident",
            "representedEnterprises",
            "Resident.representedEnterprises",
            ("Enterprise",),
            many=True,
        ),
        # family links: each relative a subject of its own, decided with its own agreement
        Relation("Resident", "parents", "Resident.parents", ("Resident",), many=True),
        Relation("Resident", "children", "Resident.children", ("Resident",), many=True),
        Relation(
            "Resident",
            "spouse",
            "Resident.spouse",
            ("Resident",),
            many=False,
            key_attribute="spouse_id",
        ),
        Relation(
            "Household",
            "head",
            "Household.head",
            ("Resident",),
            many=False,
            key_attribute="head_id",
        ),
        Relation("Household", "members", "Household.members", ("Resident",), many=True),
        Relation(
            "Enterprise",
            "legalRepresentatives",
            "Enterprise.legalRepresentatives",
            ("Resident",),
            many=True,
        ),
        Relation("Parcel", "rights", "Parcel.rights.holder", ("Resident", "Enterprise"), many=True),
    )
}
# The registries stewards are scoped to (role `steward:<domain>`): who decides access to data
STEWARDED_DOMAINS = frozenset(kind.domain for kind in SUBJECT_KINDS.values())
# The access log's names of subject kinds, and the pattern the admin API checks them with.
SUBJECT_TYPE_PATTERN = rf"^({'|'.join(SUBJECT_KINDS)})$"
CONSENTING = frozenset(name for name, kind in SUBJECT_KINDS.items() if kind.consenting)


def subject_kind(name: str) -> SubjectKind:
    return SUBJECT_KINDS[name]


def relation(via: str) -> Relation:
    return RELATIONS[via]


_AT = {(r.owner, r.field): r for r in RELATIONS.values()}


def relation_at(owner: str, field: str) -> Relation | None:
    """The relation starting at `owner.field`, if that field reaches subjects."""
    return _AT.get((owner, field))


def via_of(owner: str, field: str) -> str:
    """The `via` name of the relation starting at `owner.field` (KeyError if there is none)."""
    return _AT[owner, field].via
