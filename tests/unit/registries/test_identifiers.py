"""Identifier rules: examples a user would type, and hypothesis properties over the whole space."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registries.identifiers import (
    DocumentKind,
    IdentifierError,
    IdentityDocument,
    Sex,
    birth_registration_place,
    birth_registration_provinces,
    birth_year_of,
    make_enterprise_code,
    make_personal_id,
    parent_enterprise_code,
    sex_of,
    validate_document_number,
    validate_enterprise_code,
    validate_personal_id,
)

PROVINCES = sorted(birth_registration_provinces())


def test_the_63_pre_2025_province_prefixes_are_known() -> None:
    assert len(PROVINCES) == 63
    assert birth_registration_provinces()["001"] == "Hà Nội"
    assert birth_registration_provinces()["048"] == "Đà Nẵng"
    assert birth_registration_provinces()["079"] == "Thành phố Hồ Chí Minh"


def test_country_codes_are_accepted_for_births_registered_abroad() -> None:
    place = birth_registration_place("250")
    assert place is not None
    assert place.name == "France"
    assert not place.is_province
    assert birth_registration_place("704") is None  # Việt Nam itself is not a prefix
    assert birth_registration_place("999") is None


@pytest.mark.parametrize(
    ("personal_id", "birth_date", "sex"),
    [
        ("048085000123", date(1985, 3, 2), Sex.MALE),
        ("001190012345", date(1990, 1, 1), Sex.FEMALE),
        ("079303999999", date(2003, 12, 31), Sex.FEMALE),
        ("079200000001", date(2000, 2, 29), Sex.MALE),
    ],
)
def test_valid_personal_ids(personal_id: str, birth_date: date, sex: Sex) -> None:
    assert validate_personal_id(f" {personal_id} ", birth_date=birth_date, sex=sex) == personal_id


@pytest.mark.parametrize(
    ("personal_id", "birth_date", "sex", "code", "message"),
    [
        ("04808500012", None, None, "PERSONAL_ID_FORMAT", "exactly 12 digits"),
        ("0480850001234", None, None, "PERSONAL_ID_FORMAT", "exactly 12 digits"),
        ("04808500012a", None, None, "PERSONAL_ID_FORMAT", "exactly 12 digits"),
        ("０４８０８５０００１２３", None, None, "PERSONAL_ID_FORMAT", "exactly 12 digits"),
        ("003085000123", None, None, "PERSONAL_ID_PROVINCE", "digits 1–3 (003)"),
        ("048085000123", None, Sex.FEMALE, "PERSONAL_ID_CENTURY_SEX", "says male"),
        ("048185000123", None, Sex.MALE, "PERSONAL_ID_CENTURY_SEX", "says female"),
        ("048285000123", date(1985, 1, 1), None, "PERSONAL_ID_CENTURY_SEX", "2000s"),
        ("048086000123", date(1985, 1, 1), None, "PERSONAL_ID_BIRTH_YEAR", "digits 5–6 (86)"),
        ("048085000123", date(1885, 1, 1), None, "PERSONAL_ID_CENTURY_SEX", "1900–2399"),
    ],
)
def test_invalid_personal_ids_name_the_broken_rule(
    personal_id: str, birth_date: date | None, sex: Sex | None, code: str, message: str
) -> None:
    with pytest.raises(IdentifierError, match=re.escape(message)) as raised:
        validate_personal_id(personal_id, birth_date=birth_date, sex=sex)
    assert raised.value.code == code


birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2399, 12, 31))


@given(
    prefix=st.sampled_from(PROVINCES),
    sex=st.sampled_from(Sex),
    birth_date=birth_dates,
    serial=st.integers(0, 999_999),
)
def test_made_ids_always_validate_against_their_own_facts(
    prefix: str, sex: Sex, birth_date: date, serial: int
) -> None:
    personal_id = make_personal_id(
        province_prefix=prefix, sex=sex, birth_date=birth_date, serial=serial
    )
    assert validate_personal_id(personal_id, birth_date=birth_date, sex=sex) == personal_id
    assert personal_id[:3] == prefix


@given(
    prefix=st.sampled_from(PROVINCES),
    sex=st.sampled_from(Sex),
    birth_date=birth_dates,
    other_date=birth_dates,
    serial=st.integers(0, 999_999),
)
def test_a_different_birth_century_or_year_is_always_caught(
    prefix: str, sex: Sex, birth_date: date, other_date: date, serial: int
) -> None:
    personal_id = make_personal_id(
        province_prefix=prefix, sex=sex, birth_date=birth_date, serial=serial
    )
    if other_date.year == birth_date.year:
        assert validate_personal_id(personal_id, birth_date=other_date) == personal_id
    else:
        with pytest.raises(IdentifierError) as raised:
            validate_personal_id(personal_id, birth_date=other_date)
        assert raised.value.code in {"PERSONAL_ID_CENTURY_SEX", "PERSONAL_ID_BIRTH_YEAR"}


@given(
    prefix=st.sampled_from(PROVINCES),
    birth_date=birth_dates,
    serial=st.integers(0, 999_999),
)
def test_the_other_sex_is_always_caught(prefix: str, birth_date: date, serial: int) -> None:
    personal_id = make_personal_id(
        province_prefix=prefix, sex=Sex.MALE, birth_date=birth_date, serial=serial
    )
    with pytest.raises(IdentifierError) as raised:
        validate_personal_id(personal_id, sex=Sex.FEMALE)
    assert raised.value.code == "PERSONAL_ID_CENTURY_SEX"


@given(st.text(max_size=14).filter(lambda s: not (s.strip().isdigit() and s.isascii())))
def test_anything_not_twelve_ascii_digits_is_a_format_error(value: str) -> None:
    with pytest.raises(IdentifierError) as raised:
        validate_personal_id(value)
    assert raised.value.code == "PERSONAL_ID_FORMAT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0100233488", "0100233488"),
        ("0314409058-002", "0314409058002"),
        ("01.00.233.488", "0100233488"),
        ("0312 68 78 78 - 001", "0312687878001"),
    ],
)
def test_valid_enterprise_codes_come_back_compact(value: str, expected: str) -> None:
    assert validate_enterprise_code(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("0100233480", "ENTERPRISE_CODE_CHECKSUM"),
        ("01002334", "ENTERPRISE_CODE_FORMAT"),
        ("010023348", "ENTERPRISE_CODE_FORMAT"),
        ("0314409058-1000", "ENTERPRISE_CODE_FORMAT"),
        ("abcdefghij", "ENTERPRISE_CODE_FORMAT"),
        ("0314409058-000", "ENTERPRISE_BRANCH_SUFFIX"),
    ],
)
def test_invalid_enterprise_codes_name_the_broken_rule(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as raised:
        validate_enterprise_code(value)
    assert raised.value.code == code


def _usable(serial: int) -> bool:
    try:
        make_enterprise_code(serial=serial)
    except ValueError:
        return False
    return True


def test_serials_without_a_valid_code_are_refused() -> None:
    with pytest.raises(ValueError, match="no valid enterprise code"):
        make_enterprise_code(serial=10_000_000)  # sequence digits all zero
    unusable = next(s for s in range(100_000_000, 100_000_100) if not _usable(s))
    with pytest.raises(ValueError, match="no valid enterprise code"):
        make_enterprise_code(serial=unusable)


@pytest.mark.parametrize("value", ["0100000000", "0100000000-001"])
def test_an_all_zero_sequence_is_refused(value: str) -> None:
    with pytest.raises(IdentifierError, match="cannot all be 0") as raised:
        validate_enterprise_code(value)
    assert raised.value.code == "ENTERPRISE_CODE_FORMAT"


@given(serial=st.integers(0, 999_999_999), branch=st.none() | st.integers(1, 999))
def test_made_enterprise_codes_validate_and_know_their_parent(
    serial: int, branch: int | None
) -> None:
    assume(_usable(serial))
    code = make_enterprise_code(serial=serial, branch=branch)
    assert validate_enterprise_code(code) == code
    assert parent_enterprise_code(code) == (None if branch is None else code[:10])


@given(serial=st.integers(0, 999_999_999), wrong=st.integers(1, 9))
def test_any_altered_check_digit_is_caught(serial: int, wrong: int) -> None:
    assume(_usable(serial))
    code = make_enterprise_code(serial=serial)
    altered = code[:9] + str((int(code[9]) + wrong) % 10)
    with pytest.raises(IdentifierError) as raised:
        validate_enterprise_code(altered)
    assert raised.value.code == "ENTERPRISE_CODE_CHECKSUM"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("201234567", IdentityDocument(DocumentKind.CMND, "201234567")),
        (" 201 234 567 ", IdentityDocument(DocumentKind.CMND, "201234567")),
        ("048085000123", IdentityDocument(DocumentKind.CARD, "048085000123")),
        ("250085000123", IdentityDocument(DocumentKind.CARD, "250085000123")),  # abroad
    ],
)
def test_old_document_numbers(value: str, expected: IdentityDocument) -> None:
    assert validate_document_number(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "DOCUMENT_NUMBER_FORMAT"),
        ("20123456", "DOCUMENT_NUMBER_FORMAT"),  # 8 digits
        ("2012345678", "DOCUMENT_NUMBER_FORMAT"),  # 10: neither
        ("20123456A", "DOCUMENT_NUMBER_FORMAT"),
        ("２０１２３４５６７", "DOCUMENT_NUMBER_FORMAT"),  # full-width digits
        ("999085000123", "DOCUMENT_NUMBER_PROVINCE"),
        ("704085000123", "DOCUMENT_NUMBER_PROVINCE"),  # Việt Nam is no prefix
    ],
)
def test_malformed_document_numbers_name_their_rule(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as raised:
        validate_document_number(value)
    assert raised.value.code == code


@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2399, 12, 31)),
    sex=st.sampled_from(Sex),
    serial=st.integers(0, 999_999),
)
def test_a_personal_id_says_its_holders_birth_year_and_sex(
    birth: date, sex: Sex, serial: int
) -> None:
    personal_id = make_personal_id(province_prefix="048", sex=sex, birth_date=birth, serial=serial)
    assert (birth_year_of(personal_id), sex_of(personal_id)) == (birth.year, sex)
