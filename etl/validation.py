"""Row validation and normalisation: from an export's text fields to registry values.

The identifier rules are the registries' (`registries.identifiers`); this module only applies
them, parses what exports write (dd/mm/yyyy dates, Nam/Nữ, names in any Unicode form) and
names what is wrong with a row by a stable reason code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from etl.encodings import nfc
from registries.identifiers import IdentifierError, Sex, validate_personal_id

_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_SPACES = re.compile(r"\s+")

SEX_WORDS = {
    "male": Sex.MALE,
    "m": Sex.MALE,
    "nam": Sex.MALE,
    "female": Sex.FEMALE,
    "f": Sex.FEMALE,
    "nữ": Sex.FEMALE,
    "nu": Sex.FEMALE,
}
TRUE_WORDS = frozenset({"true", "1", "yes", "có", "x"})
FALSE_WORDS = frozenset({"false", "0", "no", "không", ""})
MARITAL_STATUSES = frozenset({"single", "married", "divorced", "widowed"})


class RowError(ValueError):
    """A row that cannot be loaded: `code` is the reject file's reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReferenceData:
    """What rows are checked against, read once per load."""

    commune_codes: frozenset[int]
    ethnic_codes: Mapping[str, int]  # name (case-folded) or code as text → code


def text(raw: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = raw.get(field)
    cleaned = _SPACES.sub(" ", nfc(str(value))).strip() if value is not None else ""
    if not cleaned:
        if required:
            raise RowError("REQUIRED_MISSING", f"{field} is required")
        return None
    return cleaned


def parse_date(raw: Mapping[str, Any], field: str, *, required: bool = False) -> date | None:
    value = text(raw, field, required=required)
    if value is None:
        return None
    match = _ISO.match(value)
    if match:
        year, month, day = (int(part) for part in match.groups())
    else:
        match = _DMY.match(value)
        if not match:
            raise RowError(
                "DATE_INVALID", f"{field} {value!r} is neither yyyy-mm-dd nor dd/mm/yyyy"
            )
        day, month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError as error:
        raise RowError("DATE_INVALID", f"{field} {value!r}: {error}") from error


def parse_int(raw: Mapping[str, Any], field: str, *, required: bool = False) -> int | None:
    value = text(raw, field, required=required)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as error:
        raise RowError("NUMBER_INVALID", f"{field} {value!r} is not a whole number") from error


def parse_decimal(raw: Mapping[str, Any], field: str, *, required: bool = False) -> Decimal | None:
    value = text(raw, field, required=required)
    if value is None:
        return None
    try:
        number = Decimal(value.replace(",", ""))
    except InvalidOperation as error:
        raise RowError("NUMBER_INVALID", f"{field} {value!r} is not a number") from error
    if not number.is_finite():
        raise RowError("NUMBER_INVALID", f"{field} {value!r} is not a finite number")
    return number


def parse_bool(raw: Mapping[str, Any], field: str) -> bool:
    value = (text(raw, field) or "").casefold()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise RowError("BOOLEAN_INVALID", f"{field} {value!r} is not true/false")


def commune(raw: Mapping[str, Any], field: str, reference: ReferenceData) -> int | None:
    code = parse_int(raw, field)
    if code is not None and code not in reference.commune_codes:
        raise RowError("COMMUNE_UNKNOWN", f"{field} {code} is not a commune code (2025 list)")
    return code


def personal_id(
    raw: Mapping[str, Any],
    field: str,
    *,
    required: bool = False,
    birth_date: date | None = None,
    sex: Sex | None = None,
) -> str | None:
    value = text(raw, field, required=required)
    if value is None:
        return None
    try:
        return validate_personal_id(value, birth_date=birth_date, sex=sex)
    except IdentifierError as error:
        code = error.code if field == "personal_id" else "RELATIVE_ID_INVALID"
        raise RowError(code, f"{field}: {error}") from error


def resident_row(raw: Mapping[str, Any], reference: ReferenceData) -> dict[str, Any]:
    """A validated, normalised residents row (registry column → value)."""
    sex_word = (text(raw, "sex", required=True) or "").casefold()
    sex = SEX_WORDS.get(sex_word)
    if sex is None:
        raise RowError("SEX_INVALID", f"sex {sex_word!r} is not male/female (Nam/Nữ)")
    birth_date = parse_date(raw, "birth_date", required=True)
    ethnicity = (text(raw, "ethnicity", required=True) or "").casefold()
    ethnicity_code = reference.ethnic_codes.get(ethnicity)
    if ethnicity_code is None:
        raise RowError("ETHNICITY_UNKNOWN", f"ethnicity {ethnicity!r} is not one of the 54")
    marital_status = text(raw, "marital_status")
    if marital_status is not None and marital_status not in MARITAL_STATUSES:
        raise RowError("MARITAL_STATUS_INVALID", f"marital_status {marital_status!r}")
    deceased = parse_bool(raw, "deceased")
    deceased_on = parse_date(raw, "deceased_on")
    if deceased_on is not None and not deceased:
        raise RowError("DECEASED_INCONSISTENT", "deceased_on is set but deceased is false")
    return {
        "personal_id": personal_id(
            raw, "personal_id", required=True, birth_date=birth_date, sex=sex
        ),
        "full_name": text(raw, "full_name", required=True),
        "birth_date": birth_date,
        "sex": sex.value,
        "ethnicity_code": ethnicity_code,
        "religion": text(raw, "religion"),
        "nationality": (text(raw, "nationality") or "VN").upper(),
        "place_of_birth": text(raw, "place_of_birth"),
        "hometown": text(raw, "hometown"),
        "permanent_commune_code": commune(raw, "permanent_commune_code", reference),
        "permanent_address_line": text(raw, "permanent_address_line"),
        "temporary_commune_code": commune(raw, "temporary_commune_code", reference),
        "temporary_address_line": text(raw, "temporary_address_line"),
        "household_id": text(raw, "household_id"),
        "relationship_to_head": text(raw, "relationship_to_head"),
        "father_id": personal_id(raw, "father_id"),
        "mother_id": personal_id(raw, "mother_id"),
        "spouse_id": personal_id(raw, "spouse_id"),
        "marital_status": marital_status,
        "deceased": deceased,
        "deceased_on": deceased_on,
        "id_card_number": text(raw, "id_card_number"),
        "id_card_issued_on": parse_date(raw, "id_card_issued_on"),
        "id_card_expires_on": parse_date(raw, "id_card_expires_on"),
    }
