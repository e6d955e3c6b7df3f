"""Corrections at the source, as the registries see them: which fields of a subject a citizen
may dispute (each a value the registry holds, in its own columns), and the one statement a load
runs to settle the disputes its new versions answer.

The correction requests themselves (gateway/corrections) live above the registries; this module
names their table in SQL only, so that the ETL (which must not import the gateway) settles them
in the merge's own transaction: a dispute is `corrected` when the current version of its
subject holds, in the disputed field's columns, something else than what was disputed.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection

# The fields of each subject type a correction may name (GraphQL names), each with the registry
# columns that hold its value. Identifiers of the record itself, relations (other subjects) and
# metadata are not values a source agency corrects here.
CORRECTABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "Resident": {
        "fullName": ("full_name",),
        "birthDate": ("birth_date",),
        "sex": ("sex",),
        "ethnicity": ("ethnicity_code",),
        "religion": ("religion",),
        "nationality": ("nationality",),
        "placeOfBirth": ("place_of_birth",),
        "hometown": ("hometown",),
        "permanentAddress": ("permanent_commune_code", "permanent_address_line"),
        "temporaryAddress": ("temporary_commune_code", "temporary_address_line"),
        "relationshipToHead": ("relationship_to_head",),
        "maritalStatus": ("marital_status",),
        "fatherId": ("father_id",),
        "motherId": ("mother_id",),
        "spouseId": ("spouse_id",),
        "deceased": ("deceased",),
        "deceasedOn": ("deceased_on",),
    },
}
# The registry table and key column of each subject type a correction may name.
TABLES: dict[str, tuple[str, str]] = {"Resident": ("residents", "personal_id")}
OPEN_STATUSES = ("reported", "forwarded")

# One statement per load, whatever its size: the open disputes (few, through their partial
# index) whose subject's current version no longer holds the disputed value become `corrected`,
# each step in the request's history. `to_jsonb(r)` reads the disputed columns by name, so the
# same statement serves every field; the value was recorded at report time by the same rule.
_SETTLE = """
WITH settled AS (
    UPDATE correction_requests AS c
    SET status = 'corrected', corrected_version_id = r.version_id, updated_at = now()
    FROM {table} AS r
    WHERE c.subject_type = %(subject_type)s
      AND c.status IN ('reported', 'forwarded')
      AND r.{key} = c.subject_id
      AND r.valid_to IS NULL
      AND r.version_id <> c.disputed_version_id
      AND (SELECT jsonb_object_agg(col, to_jsonb(r) -> col) FROM unnest(c.columns) AS col)
          IS DISTINCT FROM c.disputed_value
    RETURNING c.request_id, r.version_id
)
INSERT INTO correction_events (request_id, step, actor, detail)
SELECT request_id, 'corrected', %(actor)s, jsonb_build_object('version_id', version_id)
FROM settled
"""


def settle(connection: Connection[Any], *, table: str, actor: str) -> int:
    """Settle the disputes a merge into `table` answered (etl/pipeline.py calls it after the
    merge, in its transaction): how many became `corrected`. A table no correction names
    costs nothing."""
    settled = 0
    for subject_type, (name, key) in TABLES.items():
        if name != table:
            continue
        statement = _SETTLE.format(table=name, key=key)
        settled += connection.execute(
            statement, {"subject_type": subject_type, "actor": actor}
        ).rowcount
    return settled
