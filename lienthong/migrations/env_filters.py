"""What alembic's autogenerate compares: our tables, never the ones PostGIS owns."""

from __future__ import annotations

POSTGIS_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns"})


def include_object(
    object_: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name in POSTGIS_TABLES)
