"""What alembic's autogenerate compares: our tables, never the ones PostGIS owns."""

from __future__ import annotations

import re

POSTGIS_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns"})


ACCESS_LOG_PARTITION = re.compile(r"^access_log_(y\d{4}m\d{2}|default)$")


def include_object(
    object_: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    if type_ == "table" and name is not None and ACCESS_LOG_PARTITION.match(name):
        return False  # monthly partitions are created at run time, not by migrations
    return not (type_ == "table" and name in POSTGIS_TABLES)
