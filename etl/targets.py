"""What each registry load needs: its validation, key, staging table and merge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from etl.closures import Closable
from etl.readers import SourceRecord
from etl.validation import RowError, enterprise_row, parcel_row, resident_row
from registries.changes import Comparison
from registries.enterprises import merge as enterprises_merge
from registries.events import Outbox
from registries.identifiers import IdentifierError, validate_enterprise_code, validate_personal_id
from registries.merge import MergeCounts
from registries.parcels import merge as parcels_merge
from registries.reference.service import ReferenceCodes, reference_codes
from registries.residents import merge as residents_merge
from registries.residents.family import FamilyCheck
from registries.residents.family import check as check_family

Connection = psycopg.Connection[tuple[Any, ...]]


@dataclass
class LoadContext:
    """Reference data and what the load has seen so far (one per load)."""

    reference: ReferenceCodes
    household_heads: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadTarget:
    name: str
    staging: str
    columns: tuple[str, ...]
    validate: Callable[[SourceRecord, LoadContext], dict[str, Any]]
    key: Callable[[dict[str, Any]], str]
    create_staging: Callable[[Connection], None]
    # The set-based merge, writing its change events to the outbox (registries.events)
    merge: Callable[[Connection, Outbox], MergeCounts]
    # How staged rows meet the registry's current versions (the change-rate guard), and which
    # of their text columns the suspicious-text checks read (etl.guard)
    comparison: Comparison
    text_columns: tuple[str, ...]
    # Every versioned table the merge writes, with its business key: what a rollback undoes
    history: tuple[tuple[str, tuple[str, ...]], ...]
    # Tables the merge writes whose structures may be rebuilt after it (registries.bulk); the
    # first is the one the bulk rule measures. Empty: the normal path only.
    bulk_tables: tuple[str, ...] = ()
    # The checks a staged load must pass against itself and the registry before it merges
    # (residents: their family links, registries.residents.family)
    family: Callable[[Connection], FamilyCheck] | None = None
    # What a full export closes (etl.closures), the registry's table first
    closables: tuple[Closable, ...] = ()
    # The registry key a rejected row names, as `Closable.named_by` writes it; None when it
    # names none the registry could hold (a full export must not close blindly)
    raw_key: Callable[[Mapping[str, Any]], str | None] = lambda _: None

    def reference(self, connection: Connection) -> LoadContext:
        return LoadContext(reference_codes(connection))


def _validate_resident(record: SourceRecord, context: LoadContext) -> dict[str, Any]:
    row = resident_row(record.fields, context.reference)
    household_id = row["household_id"]
    if household_id is not None and row["relationship_to_head"] == "head":
        head = context.household_heads.setdefault(household_id, row["personal_id"])
        if head != row["personal_id"]:
            raise RowError(
                "HOUSEHOLD_HEAD_CONFLICT",
                f"household {household_id} already has another head in this file",
            )
    return row


def _raw(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    return "".join(str(value).split()) if value is not None else ""


def _resident_key(raw: Mapping[str, Any]) -> str | None:
    try:
        return validate_personal_id(_raw(raw, "personal_id"))
    except IdentifierError:
        return None


def _enterprise_key(raw: Mapping[str, Any]) -> str | None:
    try:
        return validate_enterprise_code(_raw(raw, "enterprise_code"))
    except IdentifierError:
        return None


def _parcel_key(raw: Mapping[str, Any]) -> str | None:
    parts = [_raw(raw, name) for name in ("commune_code", "map_sheet", "parcel_number")]
    return "/".join(str(int(part)) for part in parts) if all(p.isdigit() for p in parts) else None


def _staged(staging: str, *columns: str, where: str = "") -> sql.Composable:
    return sql.SQL("SELECT {} FROM {}{}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(staging),
        sql.SQL(f" WHERE {where}" if where else ""),  # static text of this module
    )


TARGETS: dict[str, LoadTarget] = {
    "residents": LoadTarget(
        name="residents",
        staging=residents_merge.STAGING_TABLE,
        columns=residents_merge.RESIDENT_COLUMNS,
        validate=_validate_resident,
        key=lambda row: str(row["personal_id"]),
        create_staging=residents_merge.create_staging,
        merge=residents_merge.merge,
        comparison=Comparison(
            "residents",
            residents_merge.STAGING_TABLE,
            ("personal_id",),
            residents_merge.RESIDENT_COLUMNS[1:],
        ),
        text_columns=(
            "full_name",
            "religion",
            "place_of_birth",
            "hometown",
            "permanent_address_line",
            "temporary_address_line",
        ),
        history=(("residents", ("personal_id",)), ("households", ("household_id",))),
        bulk_tables=("residents", "households"),
        family=check_family,
        closables=(
            Closable(
                table="residents",
                match=("personal_id",),
                staged=_staged(residents_merge.STAGING_TABLE, "personal_id"),
                key="personal_id",
                commune="permanent_commune_code",
                named_by="r.personal_id",
            ),
            # a household is its head's, as the merge derives it: one no staged head defines
            Closable(
                table="households",
                match=("household_id",),
                staged=_staged(
                    residents_merge.STAGING_TABLE,
                    "household_id",
                    where="relationship_to_head = 'head' AND household_id IS NOT NULL "
                    "AND permanent_commune_code IS NOT NULL",
                ),
                key="household_id",
                commune="commune_code",
                named_by="r.head_id",
            ),
        ),
        raw_key=_resident_key,
    ),
    "enterprises": LoadTarget(
        name="enterprises",
        staging=enterprises_merge.STAGING_TABLE,
        columns=enterprises_merge.STAGING_COLUMNS,
        validate=lambda record, context: enterprise_row(record.fields, context.reference),
        key=lambda row: str(row["enterprise_code"]),
        create_staging=enterprises_merge.create_staging,
        merge=enterprises_merge.merge,
        comparison=Comparison(
            "enterprises",
            enterprises_merge.STAGING_TABLE,
            ("enterprise_code",),
            enterprises_merge.ENTERPRISE_COLUMNS[1:],
        ),
        text_columns=("name", "foreign_name", "short_name", "head_office_address_line"),
        history=(
            ("enterprises", ("enterprise_code",)),
            ("enterprise_representatives", ("enterprise_code", "personal_id")),
            ("enterprise_business_lines", ("enterprise_code", "vsic_code")),
        ),
        bulk_tables=("enterprises", "enterprise_representatives", "enterprise_business_lines"),
        closables=(
            Closable(
                table="enterprises",
                match=("enterprise_code",),
                staged=_staged(enterprises_merge.STAGING_TABLE, "enterprise_code"),
                key="enterprise_code",
                commune="head_office_commune_code",
                named_by="r.enterprise_code",
                dependents=(
                    ("enterprise_representatives", "enterprise_code"),
                    ("enterprise_business_lines", "enterprise_code"),
                ),
            ),
        ),
        raw_key=_enterprise_key,
    ),
    "parcels": LoadTarget(
        name="parcels",
        staging=parcels_merge.STAGING_TABLE,
        columns=parcels_merge.STAGING_COLUMNS,
        validate=lambda record, context: parcel_row(
            record.fields, record.geometry, context.reference
        ),
        key=lambda row: f"{row['commune_code']}/{row['map_sheet']}/{row['parcel_number']}",
        create_staging=parcels_merge.create_staging,
        merge=parcels_merge.merge,
        comparison=Comparison(
            "parcels",
            parcels_merge.STAGING_TABLE,
            ("commune_code", "map_sheet", "parcel_number"),
            parcels_merge.PARCEL_COLUMNS[4:],
        ),
        text_columns=("address_line",),
        history=(
            ("parcels", ("parcel_id",)),
            ("parcel_rights", ("parcel_id", "holder_kind", "holder_id", "kind")),
        ),
        # none: its merge first finds each staged parcel's open version through an index
        closables=(
            Closable(
                table="parcels",
                match=("commune_code", "map_sheet", "parcel_number"),
                staged=_staged(
                    parcels_merge.STAGING_TABLE, "commune_code", "map_sheet", "parcel_number"
                ),
                key="parcel_id",
                commune="commune_code",
                named_by="r.commune_code::text || '/' || r.map_sheet::text || '/' || "
                "r.parcel_number::text",
                dependents=(("parcel_rights", "parcel_id"),),
            ),
        ),
        raw_key=_parcel_key,
    ),
}
