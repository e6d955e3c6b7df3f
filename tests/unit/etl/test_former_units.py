"""Communes before the 2025 reorganisation in exports: converted through the shipped crosswalk
(registries/data/commune-crosswalk-2025.csv), a split commune resolved by the documented rule
(docs/loads.md) or refused with its reason. Every code below is a row of the shipped data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from etl.validation import RowError, commune_converted, enterprise_row, resident_row
from registries.reference.seed import former_unit_rows, unit_change_rows
from registries.reference.service import ReferenceCodes, former_reference


def _reference() -> ReferenceCodes:
    units = [
        (r["level"], r["code"], r["name"], r["province_code"], r["district_code"])
        for r in former_unit_rows()
    ]
    changes = [
        (r["former_level"], r["former_code"], r["commune_code"], r["population"], r["effective_on"])
        for r in unit_change_rows()
    ]
    return ReferenceCodes(
        commune_codes=frozenset(r["commune_code"] for r in unit_change_rows()),
        ethnic_codes={"kinh": 1},
        vsic_codes=frozenset({"A", "62010", "46900"}),
        land_use_codes=frozenset(),
        **former_reference(units, changes),
    )


REFERENCE = _reference()


def _convert(by_population: bool = True, **row: str) -> tuple[int | None, dict[str, Any] | None]:
    return commune_converted(row, "permanent_commune_code", REFERENCE, by_population=by_population)


def _refused(by_population: bool = True, **row: str) -> RowError:
    with pytest.raises(RowError) as raised:
        _convert(by_population, **row)
    return raised.value


def test_the_shipped_tables_have_the_counts_of_their_sources() -> None:
    levels: dict[str, int] = {}
    for row in former_unit_rows():
        levels[row["level"]] = levels.get(row["level"], 0) + 1
    assert levels == {"province": 63, "district": 696, "commune": 10061}
    changes = unit_change_rows()
    assert len(changes) == 10570
    assert {r["commune_code"] for r in changes} == set(REFERENCE.commune_codes)
    assert len(REFERENCE.commune_codes) == 3321
    mapped = [c for c in REFERENCE.former_communes.values() if c.into]
    assert len(mapped) == 10033
    assert sum(len(c.into) > 1 for c in mapped) == 441  # split between 2025 communes
    assert sum(c.population is not None for c in mapped) == 58
    assert sum(not c.into for c in REFERENCE.former_communes.values()) == 28


def test_a_row_without_a_former_commune_is_read_as_before() -> None:
    assert _convert(permanent_commune_code="20242") == (20242, None)
    assert _convert() == (None, None)


def test_a_former_code_becomes_the_2025_commune_and_is_kept() -> None:
    # Phường Quán Thánh (00013, Quận Ba Đình) went wholly into Phường Ba Đình (00004)
    code, former = _convert(permanent_commune_code_before_2025="00013")
    assert code == 4
    assert former == {"code": 13, "as_written": "00013", "rule": "single"}


def test_a_former_commune_by_its_names() -> None:
    code, former = _convert(
        permanent_commune_code_before_2025="phường quán thánh,  Quận Ba Đình, Thành phố Hà Nội"
    )
    assert (code, former and former["code"], former and former["rule"]) == (4, 13, "single")
    code, _ = _convert(permanent_commune_code_before_2025="Phường Quán Thánh, Quận Ba Đình")
    assert code == 4
    # where the tone mark sits does not matter: the list writes "Phường Yên Hoà" (00172)
    error = _refused(permanent_commune_code_before_2025="Phường Yên Hòa, Quận Cầu Giấy")
    assert (error.code, "00167, 00175" in str(error)) == ("COMMUNE_SPLIT", True)


def test_a_split_commune_is_refused_naming_its_parts() -> None:
    # Phường Ngọc Hà (00016) was split between Phường Ba Đình (00004) and Phường Ngọc Hà (00008)
    error = _refused(permanent_commune_code_before_2025="16")
    assert error.code == "COMMUNE_SPLIT"
    assert "00004, 00008" in str(error)


def test_a_split_commune_with_its_2025_code_is_resolved() -> None:
    code, former = _convert(permanent_commune_code_before_2025="00016", permanent_commune_code="8")
    assert (code, former and former["rule"]) == (8, "given")
    error = _refused(permanent_commune_code_before_2025="00016", permanent_commune_code="20242")
    assert error.code == "COMMUNE_FORMER_MISMATCH"


def test_a_split_commune_whose_population_went_to_one_part() -> None:
    # Phường Thụy Khuê (00112): "Nhập một phần diện tích" into 00004, "… toàn bộ dân số" into 00103
    code, former = _convert(permanent_commune_code_before_2025="00112")
    assert (code, former and former["rule"]) == (103, "population")
    # an enterprise's head office is not a residence: the population rule does not place it
    error = _refused(by_population=False, permanent_commune_code_before_2025="00112")
    assert error.code == "COMMUNE_SPLIT"


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("99999", "COMMUNE_FORMER_UNKNOWN"),
        ("Phường Không Có, Quận Ba Đình", "COMMUNE_FORMER_UNKNOWN"),
        ("123456", "COMMUNE_FORMER_INVALID"),
        ("Phường Quán Thánh", "COMMUNE_FORMER_INVALID"),
        ("a, b, c, d", "COMMUNE_FORMER_INVALID"),
        ("13, 14", "COMMUNE_FORMER_INVALID"),
        # two communes of that name in that district (16387 merged earlier in 2025)
        ("Xã Đông Khê, Thành phố Thanh Hóa, Tỉnh Thanh Hóa", "COMMUNE_FORMER_AMBIGUOUS"),
        ("Thị trấn An Lão, Huyện An Lão", "COMMUNE_FORMER_AMBIGUOUS"),
        # Xã Mỹ Hưng (01651) is in the January 2025 list, merged before the crosswalk
        ("01651", "COMMUNE_FORMER_UNMAPPED"),
    ],
)
def test_bad_former_communes_each_have_their_reason(written: str, reason: str) -> None:
    assert _refused(permanent_commune_code_before_2025=written).code == reason


def test_a_resident_row_keeps_its_former_communes_in_its_provenance() -> None:
    row = resident_row(
        {
            "personal_id": "048085000123",
            "full_name": "Nguyễn Văn An",
            "birth_date": "1985-03-02",
            "sex": "male",
            "ethnicity": "Kinh",
            "permanent_commune_code_before_2025": "00013",
            "temporary_commune_code_before_2025": "00112",
        },
        REFERENCE,
    )
    assert (row["permanent_commune_code"], row["temporary_commune_code"]) == (4, 103)
    assert json.loads(row["provenance"]) == {
        "former_units": {
            "permanent_commune_code": {"as_written": "00013", "code": 13, "rule": "single"},
            "temporary_commune_code": {"as_written": "00112", "code": 112, "rule": "population"},
        }
    }


ENTERPRISE = {
    "enterprise_code": "0401234566",
    "name": "Công ty TNHH Sông Hàn",
    "enterprise_type": "tnhh_1tv",
    "status": "active",
    "registered_on": "2015-06-01",
    "charter_capital": "1000",
    "head_office_address_line": "45 Bạch Đằng",
    "representatives": "048085000123:Giám đốc",
}


def test_an_enterprise_head_office_before_2025_and_unchecked_business_lines() -> None:
    row = enterprise_row(
        {
            **ENTERPRISE,
            "head_office_commune_code_before_2025": "00013",
            "business_lines": "62010*|47110|46900",
        },
        REFERENCE,
    )
    assert row["head_office_commune_code"] == 4
    assert row["business_lines"] == "62010*|46900"
    assert row["warnings"] == ("VSIC_UNCHECKED",)
    assert json.loads(row["provenance"]) == {
        "former_units": {
            "head_office_commune_code": {"as_written": "00013", "code": 13, "rule": "single"}
        },
        "unchecked": {"business_lines": ["47110"]},
    }


def test_an_enterprise_needs_a_head_office_in_either_form() -> None:
    with pytest.raises(RowError) as raised:
        enterprise_row({**ENTERPRISE, "business_lines": "62010*"}, REFERENCE)
    assert raised.value.code == "REQUIRED_MISSING"
    row = enterprise_row(
        {**ENTERPRISE, "head_office_commune_code": "20242", "business_lines": "62010*"}, REFERENCE
    )
    assert (row["provenance"], row["warnings"]) == (None, ())
