"""Small resident exports written row by row, for the load tests of family links and full
exports: each row a dict of the export's columns, IDs made by the registry's own rules."""

from __future__ import annotations

import csv
import itertools
import random
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from lienthong.settings import Settings
from registries.identifiers import Sex, make_personal_id

HEADER = (
    "personal_id", "full_name", "birth_date", "sex", "ethnicity", "permanent_commune_code",
    "permanent_address_line", "household_id", "relationship_to_head", "father_id", "mother_id",
    "spouse_id", "marital_status", "deceased", "deceased_on", "id_card_number",
)  # fmt: skip
HAI_CHAU = 20242  # Phường Hải Châu, Thành phố Đà Nẵng (province 48)
BA_DINH = 4  # Phường Ba Đình, Thành phố Hà Nội (province 1)
REGISTRY = "residents, households, etl_rejects, etl_closures, etl_runs"
# Every registry table and the ETL's own: what a test that loads all three registries empties
REGISTRY_TABLES = (
    "residents, households, enterprises, enterprise_representatives, "
    "enterprise_business_lines, enterprise_owners, parcels, parcel_rights, "
    "parcel_restrictions, etl_rejects, etl_closures, etl_runs"
)
_serials = itertools.count(random.randrange(1, 900_000))


def person(born: date, sex: Sex = Sex.MALE) -> str:
    """A fresh personal ID for someone born then (the registry's rules)."""
    return make_personal_id(province_prefix="048", sex=sex, birth_date=born, serial=next(_serials))


def resident(personal_id: str, born: date, sex: Sex = Sex.MALE, **fields: Any) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update(
        personal_id=personal_id, full_name="Nguyễn Văn An", birth_date=born.isoformat(),
        sex=sex.value, ethnicity="Kinh", permanent_commune_code=str(HAI_CHAU),
        permanent_address_line="12 Trần Phú", deceased="false",
    )  # fmt: skip
    row.update({name: str(value) for name, value in fields.items()})
    return row


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def query(settings: Settings, statement: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.libpq_url) as connection:
        return connection.execute(statement, params).fetchall()


def empty(settings: Settings) -> None:
    """The ETL commits on its own connections: what a test loaded goes after it."""
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {REGISTRY}")
