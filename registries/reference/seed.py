"""Reference data from maintained sources, loaded by the registries migration.

Administrative units come from the `vietnam-provinces` package (the 2025 reorganisation: 34
provinces, 3,321 communes); ethnic groups, land-use categories and VSIC codes from the CSV files
shipped in `registries/data/`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from importlib import resources
from typing import Any

from sqlalchemy import Connection, insert
from vietnam_provinces import Province as SourceProvince
from vietnam_provinces import Ward as SourceWard

from registries.reference.models import (
    BusinessLine,
    Commune,
    EthnicGroup,
    LandUseCategory,
    Province,
)

VSIC_EDITION = "VSIC 2018 (QĐ 27/2018/QĐ-TTg)"


def _csv_rows(name: str) -> Iterator[dict[str, str]]:
    with resources.files("registries").joinpath(f"data/{name}").open(encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


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
