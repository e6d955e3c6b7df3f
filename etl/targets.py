"""What each registry load needs: its validation, key, staging table and merge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from etl.readers import SourceRecord
from etl.validation import RowError, enterprise_row, parcel_row, resident_row
from registries.changes import Comparison
from registries.enterprises import merge as enterprises_merge
from registries.merge import MergeCounts
from registries.parcels import merge as parcels_merge
from registries.reference.service import ReferenceCodes, reference_codes
from registries.residents import merge as residents_merge

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
    merge: Callable[[Connection], MergeCounts]
    # How staged rows meet the registry's current versions (the change-rate guard), and which
    # of their text columns the suspicious-text checks read (etl.guard)
    comparison: Comparison
    text_columns: tuple[str, ...]
    # Every versioned table the merge writes, with its business key: what a rollback undoes
    history: tuple[tuple[str, tuple[str, ...]], ...]
    # Tables the merge writes whose structures may be rebuilt after it (registries.bulk); the
    # first is the one the bulk rule measures. Empty: the normal path only.
    bulk_tables: tuple[str, ...] = ()

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
    ),
}
