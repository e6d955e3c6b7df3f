"""Set-based merge of a staged cadastral export: parcels and their rights.

Exports identify a parcel by commune, map sheet and parcel number; the registry by its national
parcel ID. A staged parcel that matches an open parcel takes over its ID (a re-survey keeps the
ID); a new one gets the GeoHash of a point inside it. Rights are staged as
`holder_kind:holder_id:kind:certificate|…`. Their change events (changed rights) go to the
outbox in the same transaction (registries.events).
"""

from __future__ import annotations

from psycopg import Connection, sql

from registries.events import Outbox
from registries.identifiers import PARCEL_ID_LENGTH
from registries.merge import MergeCounts, count_with_children, merge_children, merge_staged

PARCEL_COLUMNS = (
    "parcel_id",
    "commune_code",
    "map_sheet",
    "parcel_number",
    "geom",
    "declared_area",
    "land_use_code",
    "address_line",
)
STAGING_COLUMNS = (*PARCEL_COLUMNS[1:], "rights")
STAGING_TABLE = "stage_parcels"


def create_staging(connection: Connection[tuple[object, ...]]) -> None:
    connection.execute(
        sql.SQL(
            "CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
            "SELECT {columns}, ''::text AS rights FROM parcels WITH NO DATA"
        ).format(
            staging=sql.Identifier(STAGING_TABLE),
            columns=sql.SQL(", ").join(map(sql.Identifier, PARCEL_COLUMNS)),
        )
    )


def merge(connection: Connection[tuple[object, ...]], outbox: Outbox) -> MergeCounts:
    staging = sql.Identifier(STAGING_TABLE)
    connection.execute(
        sql.SQL(
            "UPDATE {staging} AS s SET parcel_id = coalesce("
            "(SELECT p.parcel_id FROM parcels AS p WHERE p.valid_to IS NULL "
            "AND p.commune_code = s.commune_code AND p.map_sheet = s.map_sheet "
            "AND p.parcel_number = s.parcel_number), "
            "ST_GeoHash(ST_PointOnSurface(s.geom), %s))"
        ).format(staging=staging),
        (PARCEL_ID_LENGTH,),
    )
    counts = merge_staged(
        connection,
        table="parcels",
        source=sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, PARCEL_COLUMNS)), staging
        ),
        key="parcel_id",
        columns=PARCEL_COLUMNS,
        outbox=outbox,
    )
    changed = merge_children(
        connection,
        table="parcel_rights",
        source=sql.SQL(
            "SELECT s.parcel_id, split_part(item, ':', 1) AS holder_kind, "
            "split_part(item, ':', 2)::varchar(13) AS holder_id, "
            "split_part(item, ':', 3) AS kind, nullif(split_part(item, ':', 4), '') "
            "AS certificate_number, 100::numeric(7, 4) AS share_percent FROM {} AS s, "
            "unnest(string_to_array(s.rights, '|')) AS item WHERE item <> ''"
        ).format(staging),
        parents=sql.SQL("SELECT parcel_id FROM {}").format(staging),
        scope="parcel_id",
        key=("parcel_id", "holder_kind", "holder_id", "kind"),
        attributes=("certificate_number", "share_percent"),
        outbox=outbox,
    )
    return count_with_children(
        connection, table="parcels", key="parcel_id", counts=counts, children_changed=changed
    )
