"""Set-based merge of a staged enterprise export: enterprises, their legal representatives and
business lines (staged as `personal_id:title|…` and `vsic*|vsic|…`, `*` marking the main line).
Their change events (a new status, changed representatives) go to the outbox in the same
transaction (registries.events)."""

from __future__ import annotations

from psycopg import Connection, sql

from registries.events import Outbox
from registries.merge import MergeCounts, count_with_children, merge_children, merge_staged

ENTERPRISE_COLUMNS = (
    "enterprise_code",
    "name",
    "foreign_name",
    "short_name",
    "enterprise_type",
    "status",
    "registered_on",
    "charter_capital",
    "head_office_commune_code",
    "head_office_address_line",
    "provenance",  # JSONB: a pre-2025 head-office commune, VSIC codes left unchecked
)
STAGING_COLUMNS = (*ENTERPRISE_COLUMNS, "representatives", "business_lines")
STAGING_TABLE = "stage_enterprises"


def create_staging(connection: Connection[tuple[object, ...]]) -> None:
    connection.execute(
        sql.SQL(
            "CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
            "SELECT {columns}, ''::text AS representatives, ''::text AS business_lines "
            "FROM enterprises WITH NO DATA"
        ).format(
            staging=sql.Identifier(STAGING_TABLE),
            columns=sql.SQL(", ").join(map(sql.Identifier, ENTERPRISE_COLUMNS)),
        )
    )


def merge(connection: Connection[tuple[object, ...]], outbox: Outbox) -> MergeCounts:
    staging = sql.Identifier(STAGING_TABLE)
    counts = merge_staged(
        connection,
        table="enterprises",
        source=sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, ENTERPRISE_COLUMNS)), staging
        ),
        key="enterprise_code",
        columns=ENTERPRISE_COLUMNS,
        outbox=outbox,
    )
    parents = sql.SQL("SELECT enterprise_code FROM {}").format(staging)
    changed = merge_children(
        connection,
        table="enterprise_representatives",
        source=sql.SQL(
            "SELECT s.enterprise_code, split_part(item, ':', 1)::varchar(12) AS personal_id, "
            "substr(item, strpos(item, ':') + 1) AS title "
            "FROM {} AS s, unnest(string_to_array(s.representatives, '|')) AS item "
            "WHERE item <> ''"
        ).format(staging),
        parents=parents,
        scope="enterprise_code",
        key=("enterprise_code", "personal_id"),
        attributes=("title",),
        outbox=outbox,
    )
    changed |= merge_children(
        connection,
        table="enterprise_business_lines",
        source=sql.SQL(
            "SELECT s.enterprise_code, rtrim(item, '*')::varchar(5) AS vsic_code, "
            "right(item, 1) = '*' AS is_main "
            "FROM {} AS s, unnest(string_to_array(s.business_lines, '|')) AS item "
            "WHERE item <> ''"
        ).format(staging),
        parents=parents,
        scope="enterprise_code",
        key=("enterprise_code", "vsic_code"),
        attributes=("is_main",),
        outbox=outbox,
    )
    return count_with_children(
        connection,
        table="enterprises",
        key="enterprise_code",
        counts=counts,
        children_changed=changed,
    )
