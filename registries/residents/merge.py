"""Set-based merge of a staged population export into residents and households.

The ETL COPYs validated rows into the session's staging table; `merge` then, in two statements
per table, closes the open version of every resident whose attributes changed and opens a new
version for every staged resident without an open one (new, or just closed). Unchanged rows are
left alone, so loading the same export twice changes nothing. The change events of both tables
go to the outbox in the same transaction (registries.events): a resident's move, new name or
death, the households they left and joined.
"""

from __future__ import annotations

from psycopg import Connection, sql

from registries.events import Outbox
from registries.merge import MergeCounts, merge_staged

RESIDENT_COLUMNS = (
    "personal_id",
    "full_name",
    "birth_date",
    "sex",
    "ethnicity_code",
    "religion",
    "nationality",
    "place_of_birth",
    "hometown",
    "permanent_commune_code",
    "permanent_address_line",
    "temporary_commune_code",
    "temporary_address_line",
    "household_id",
    "relationship_to_head",
    "father_id",
    "mother_id",
    "spouse_id",
    "marital_status",
    "deceased",
    "deceased_on",
    "id_card_number",
    "id_card_issued_on",
    "id_card_expires_on",
    "provenance",  # JSONB: the pre-2025 communes the export named (etl.validation)
)
STAGING_TABLE = "stage_residents"


def create_staging(connection: Connection[tuple[object, ...]]) -> None:
    """A temporary table shaped like the residents' attributes, dropped at commit."""
    connection.execute(
        sql.SQL(
            "CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
            "SELECT {columns} FROM residents WITH NO DATA"
        ).format(
            staging=sql.Identifier(STAGING_TABLE),
            columns=sql.SQL(", ").join(map(sql.Identifier, RESIDENT_COLUMNS)),
        )
    )


def merge(connection: Connection[tuple[object, ...]], outbox: Outbox) -> MergeCounts:
    """Merge the staged residents, and the households their heads define; counts residents."""
    # Households first (they are made from the staged rows alone): the residents' events of
    # leaving and joining a household then name its version after this load
    merge_staged(
        connection,
        table="households",
        source=sql.SQL(
            "SELECT household_id, personal_id AS head_id, permanent_commune_code AS "
            "commune_code, coalesce(permanent_address_line, '') AS address_line, "
            # the head's permanent address as the export wrote it, when before 2025
            "CASE WHEN provenance -> 'former_units' ? 'permanent_commune_code' THEN "
            "jsonb_build_object('former_units', jsonb_build_object('commune_code', "
            "provenance -> 'former_units' -> 'permanent_commune_code')) END AS provenance "
            "FROM {} WHERE relationship_to_head = 'head' AND household_id IS NOT NULL "
            "AND permanent_commune_code IS NOT NULL"
        ).format(sql.Identifier(STAGING_TABLE)),
        key="household_id",
        columns=("household_id", "head_id", "commune_code", "address_line", "provenance"),
        outbox=outbox,
    )
    return merge_staged(
        connection,
        table="residents",
        source=sql.SQL("SELECT * FROM {}").format(sql.Identifier(STAGING_TABLE)),
        key="personal_id",
        columns=RESIDENT_COLUMNS,
        outbox=outbox,
    )
