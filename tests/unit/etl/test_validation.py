from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from etl.crs import CRSInputError, parse_crs
from etl.validation import RowError, parse_date, resident_row
from registries.reference.service import ReferenceCodes

REFERENCE = ReferenceCodes(
    commune_codes=frozenset({20242}),
    ethnic_codes={"1": 1, "kinh": 1, "tày": 2},
    vsic_codes=frozenset(),
    land_use_codes=frozenset(),
)


def _row(**overrides: Any) -> dict[str, Any]:
    row = {
        "personal_id": "048085000123",
        "full_name": "  Nguyễn   Văn An ",
        "birth_date": "1985-03-02",
        "sex": "male",
        "ethnicity": "Kinh",
        "deceased": "",
        "permanent_commune_code": "20242",
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1985-03-02", date(1985, 3, 2)),
        ("02/03/1985", date(1985, 3, 2)),
        ("2.3.1985", date(1985, 3, 2)),
    ],
)
def test_dates_in_iso_and_vietnamese_order(text: str, expected: date) -> None:
    assert parse_date({"d": text}, "d") == expected


@pytest.mark.parametrize("text", ["31/02/1985", "1985/03/02", "March 2, 1985", "02-03-85"])
def test_bad_dates_are_rejected(text: str) -> None:
    with pytest.raises(RowError) as raised:
        parse_date({"d": text}, "d")
    assert raised.value.code == "DATE_INVALID"


def test_a_resident_row_is_normalised() -> None:
    row = resident_row(_row(sex="Nam", ethnicity="TÀY"), REFERENCE)
    assert row["full_name"] == "Nguyễn Văn An"
    assert (row["sex"], row["ethnicity_code"], row["nationality"]) == ("male", 2, "VN")
    assert row["deceased"] is False


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"full_name": " "}, "REQUIRED_MISSING"),
        ({"sex": "X"}, "SEX_INVALID"),
        ({"sex": "female"}, "PERSONAL_ID_CENTURY_SEX"),
        ({"birth_date": "1986-03-02"}, "PERSONAL_ID_BIRTH_YEAR"),
        ({"ethnicity": "Atlantis"}, "ETHNICITY_UNKNOWN"),
        ({"permanent_commune_code": "1"}, "COMMUNE_UNKNOWN"),
        ({"permanent_commune_code": "abc"}, "NUMBER_INVALID"),
        ({"father_id": "123"}, "RELATIVE_ID_INVALID"),
        ({"deceased": "maybe"}, "BOOLEAN_INVALID"),
        ({"deceased_on": "2020-01-01"}, "DECEASED_INCONSISTENT"),
        ({"marital_status": "complicated"}, "MARITAL_STATUS_INVALID"),
        ({"household_id": "HK123"}, "HOUSEHOLD_ID_INVALID"),
        ({"father_id": "048085000123"}, "FAMILY_SELF_LINK"),
        ({"spouse_id": " 048085000123 "}, "FAMILY_SELF_LINK"),
        ({"mother_id": "048055000001"}, "FAMILY_PARENT_SEX"),  # digit 4: a man
        ({"father_id": "048155000001"}, "FAMILY_PARENT_SEX"),  # digit 4: a woman
        ({"father_id": "048090000001"}, "FAMILY_PARENT_YOUNGER"),  # born 1990, child 1985
        ({"mother_id": "048195000001"}, "FAMILY_PARENT_YOUNGER"),
        ({"id_card_number": "12345"}, "ID_CARD_NUMBER_INVALID"),
        ({"id_card_number": "999085000123"}, "ID_CARD_NUMBER_INVALID"),
    ],
)
def test_each_bad_field_names_its_reason(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(RowError) as raised:
        resident_row(_row(**overrides), REFERENCE)
    assert raised.value.code == code


def test_vn2000_systems_by_province_meridian_and_epsg() -> None:
    def meridian(name: str) -> float:
        crs = parse_crs(name)
        operation = (crs.source_crs or crs).coordinate_operation
        assert operation is not None
        return next(
            float(p.value) for p in operation.params if p.name == "Longitude of natural origin"
        )

    assert meridian("VN2000:da-nang") == 107.75
    assert meridian("VN2000:TM3:105.5") == 105.5
    assert parse_crs("EPSG:3405").to_epsg() == 3405


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("VN2000:atlantis", "unknown province 'atlantis'"),
        ("VN2000:TM3:east", "central meridian must be a number"),
        ("EPSG:999999", "not a coordinate system"),
    ],
)
def test_unknown_coordinate_systems_are_refused(text: str, message: str) -> None:
    with pytest.raises(CRSInputError, match=message):
        parse_crs(text)


def test_family_links_a_row_cannot_judge_alone_are_left_to_the_load() -> None:
    """A parent born the same year as the child (by their ID) may be born before them: the
    load compares full birth dates once it has the parent's record."""
    row = resident_row(
        _row(father_id="048085000001", mother_id="048160000002", spouse_id="048188000003",
             id_card_number=" 201 234 567 "),
        REFERENCE,
    )  # fmt: skip
    assert (row["father_id"], row["mother_id"], row["spouse_id"]) == (
        "048085000001", "048160000002", "048188000003",
    )  # fmt: skip
    assert row["id_card_number"] == "201234567"


def test_a_family_reason_names_the_link_and_what_is_wrong() -> None:
    with pytest.raises(RowError) as raised:
        resident_row(_row(father_id="048090000001"), REFERENCE)
    assert str(raised.value) == (
        "father_id 048090000001: digits 4–6 say the father was born in 1990, after the "
        "resident (1985-03-02)"
    )
