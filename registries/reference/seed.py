"""Reference data from maintained sources, loaded by the registries migration.

Administrative units come from the `vietnam-provinces` package (the 2025 reorganisation: 34
provinces, 3,321 communes); ethnic groups, land-use categories and VSIC codes from the CSV files
shipped in `registries/data/`, and so do the units before the reorganisation and the crosswalk
to the 2025 communes (each file names its source in its header, lines starting with `#`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from importlib import resources
from typing import Any

from sqlalchemy import Connection, insert
from vietnam_provinces import Province as SourceProvince
from vietnam_provinces import Ward as SourceWard

from registries.reference.models import (
    BusinessLine,
    Commune,
    EthnicGroup,
    FormerUnit,
    LandUseCategory,
    Province,
    UnitChange,
)

VSIC_EDITION = "VSIC 2018 (QĐ 27/2018/QĐ-TTg)"
# The crosswalk's own header: "Đơn vị hành chính từ ngày 01/7/2025"
REORGANISED_ON = date(2025, 7, 1)


def _csv_rows(name: str) -> Iterator[dict[str, str]]:
    """The rows of a data file, past the header comment (lines starting with `#`) naming its
    source."""
    with resources.files("registries").joinpath(f"data/{name}").open(encoding="utf-8") as handle:
        yield from csv.DictReader(line for line in handle if not line.startswith("#"))


def province_rows() -> list[dict[str, Any]]:
    return [
        {
            "code": int(province.code),
            "name": province.name,
            "division_type": province.division_type.value,
            "codename": province.codename,
        }
        for province in SourceProvince.iter_all()
    ]


def commune_rows() -> list[dict[str, Any]]:
    return [
        {
            "code": int(ward.code),
            "name": ward.name,
            "division_type": ward.division_type.value,
            "codename": ward.codename,
            "province_code": int(ward.province_code),
        }
        for ward in SourceWard.iter_all()
    ]


def former_unit_rows() -> list[dict[str, Any]]:
    return [
        {
            "level": row["level"],
            "code": int(row["code"]),
            "name": row["name"],
            "division_type": row["division_type"],
            "province_code": int(row["province_code"]),
            "district_code": int(row["district_code"]) if row["district_code"] else None,
        }
        for row in _csv_rows("admin-units-before-2025.csv")
    ]


def unit_change_rows() -> list[dict[str, Any]]:
    return [
        {
            "former_level": row["former_level"],
            "former_code": int(row["former_code"]),
            "commune_code": int(row["code"]),
            "code_nso": int(row["code_nso"]),
            "population": row["population"] == "true",
            "note": row["note"],
            "effective_on": REORGANISED_ON,
        }
        for row in _csv_rows("commune-crosswalk-2025.csv")
    ]


def seed_former_units(connection: Connection) -> None:
    """The units before the 2025 reorganisation and the crosswalk (migration 0012)."""
    connection.execute(insert(FormerUnit), former_unit_rows())
    connection.execute(insert(UnitChange), unit_change_rows())


def seed_reference_data(connection: Connection) -> None:
    connection.execute(insert(Province), province_rows())
    connection.execute(insert(Commune), commune_rows())
    connection.execute(
        insert(EthnicGroup),
        [{"code": int(row["code"]), "name": row["name"]} for row in _csv_rows("ethnic_groups.csv")],
    )
    connection.execute(insert(LandUseCategory), list(_csv_rows("land_use_categories.csv")))
    connection.execute(
        insert(BusinessLine),
        [
            {**row, "level": int(row["level"]), "edition": VSIC_EDITION}
            for row in _csv_rows("vsic.csv")
        ],
    )
