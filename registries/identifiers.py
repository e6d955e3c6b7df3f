"""Identifier rules, in one place: personal IDs (số định danh cá nhân) and enterprise codes (mã số
doanh nghiệp). The ETL rejects by these rules and the gateway answers BAD_USER_INPUT by them.

Personal ID (Thông tư 07/2016/TT-BCA, as amended by Thông tư 59/2021/TT-BCA), 12 digits:
  - digits 1–3: the province where the birth was registered, by the 63 pre-2025 codes (IDs keep
    them after the 2025 merger), or, for a birth registered abroad, the ISO 3166-1 numeric code
    of that country;
  - digit 4: century of birth and sex — 1900s male 0 / female 1, 2000s 2 / 3, 2100s 4 / 5,
    2200s 6 / 7, 2300s 8 / 9;
  - digits 5–6: the last two digits of the birth year;
  - digits 7–12: a serial number.

Old identity documents, still held by counters and agency systems: the 9-digit chứng minh nhân
dân (CMND, before 2016), and 12-digit card numbers (the 12-digit CMND of 2012–2016, the căn cước
công dân since 2016), which follow the personal ID's rules above (digits 1–3 a birth-registration
province or a country). A resident's card number is the registry's `id_card_number`.

Enterprise code (Nghị định 01/2021/NĐ-CP): the 10-digit tax code with its check digit; a branch
or dependent unit has 13 digits, the parent's ten followed by 001–999 (often written with a dash).
Checked with python-stdnum's `stdnum.vn.mst`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources

import pycountry
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.vn import mst

PERSONAL_ID_LENGTH = 12
FIRST_CENTURY = 1900
LAST_YEAR = 2399
VIETNAM_NUMERIC = "704"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class IdentifierError(ValueError):
    """A broken identifier rule: `code` is stable (reject files, API errors), str() for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BirthRegistrationPlace:
    prefix: str
    name: str
    is_province: bool


@cache
def birth_registration_provinces() -> dict[str, str]:
    """The 63 pre-2025 province prefixes (e.g. 001 Hà Nội, 048 Đà Nẵng, 079 TP.HCM) → name."""
    text = resources.files("registries").joinpath("data/birth-registration-provinces.csv")
    with text.open(encoding="utf-8") as handle:
        return {row["id_prefix"]: row["name_before_2025"] for row in csv.DictReader(handle)}


@cache
def _country_prefixes() -> dict[str, str]:
    return {
        country.numeric: country.name
        for country in pycountry.countries
        if country.numeric != VIETNAM_NUMERIC
    }


@cache  # at most 1,000 prefixes; every personal ID checked asks (millions per load)
def birth_registration_place(prefix: str) -> BirthRegistrationPlace | None:
    """Where a birth with this ID prefix was registered; a province code wins over a country."""
    province = birth_registration_provinces().get(prefix)
    if province is not None:
        return BirthRegistrationPlace(prefix, province, is_province=True)
    country = _country_prefixes().get(prefix)
    if country is not None:
        return BirthRegistrationPlace(prefix, country, is_province=False)
    return None


def _century_sex_digit(birth_year: int, sex: Sex) -> int:
    return 2 * ((birth_year - FIRST_CENTURY) // 100) + (1 if sex is Sex.FEMALE else 0)


def validate_personal_id(
    value: str, *, birth_date: date | None = None, sex: Sex | None = None
) -> str:
    """The personal ID (surrounding spaces removed), or IdentifierError naming the broken rule.

    With `birth_date` and/or `sex`, digit 4 and digits 5–6 must agree with them.
    """
    personal_id = value.strip()
    if not (
        len(personal_id) == PERSONAL_ID_LENGTH and personal_id.isascii() and personal_id.isdigit()
    ):
        raise IdentifierError(
            "PERSONAL_ID_FORMAT", "a personal ID has exactly 12 digits (0–9), nothing else"
        )
    prefix = personal_id[:3]
    if birth_registration_place(prefix) is None:
        raise IdentifierError(
            "PERSONAL_ID_PROVINCE",
            f"digits 1–3 ({prefix}) are neither a birth-registration province code nor a "
            "country code",
        )
    century_sex = int(personal_id[3])
    if sex is not None and (century_sex % 2 == 1) != (sex is Sex.FEMALE):
        raise IdentifierError(
            "PERSONAL_ID_CENTURY_SEX",
            f"digit 4 ({century_sex}) says {'female' if century_sex % 2 else 'male'}, "
            f"the record says {sex.value}",
        )
    if birth_date is not None:
        if not FIRST_CENTURY <= birth_date.year <= LAST_YEAR:
            raise IdentifierError(
                "PERSONAL_ID_CENTURY_SEX",
                f"birth year {birth_date.year} is outside what digit 4 can encode (1900–2399)",
            )
        century = FIRST_CENTURY + 100 * (century_sex // 2)
        if birth_date.year // 100 * 100 != century:
            raise IdentifierError(
                "PERSONAL_ID_CENTURY_SEX",
                f"digit 4 ({century_sex}) says born in the {century}s, "
                f"the birth date is {birth_date.isoformat()}",
            )
        if personal_id[4:6] != f"{birth_date.year % 100:02d}":
            raise IdentifierError(
                "PERSONAL_ID_BIRTH_YEAR",
                f"digits 5–6 ({personal_id[4:6]}) must be the last two digits of the birth "
                f"year {birth_date.year}",
            )
    return personal_id


def sex_of(personal_id: str) -> Sex:
    """The sex a valid personal ID encodes (digit 4: odd female, even male)."""
    return Sex.FEMALE if int(personal_id[3]) % 2 else Sex.MALE


def birth_year_of(personal_id: str) -> int:
    """The birth year a valid personal ID encodes (digit 4's century, digits 5–6)."""
    return FIRST_CENTURY + 100 * (int(personal_id[3]) // 2) + int(personal_id[4:6])


CMND_LENGTH = 9


class DocumentKind(StrEnum):
    CMND = "cmnd"  # chứng minh nhân dân, 9 digits
    CARD = "card"  # a 12-digit card number: CMND 12 số or căn cước (công dân)


@dataclass(frozen=True)
class IdentityDocument:
    kind: DocumentKind
    number: str


def validate_document_number(value: str) -> IdentityDocument:
    """An identity document's number as stored (spaces removed), or IdentifierError: a 9-digit
    CMND, or a 12-digit card number with the personal ID's province rule (its birth date and sex
    are the holder's, which a lookup by number does not know)."""
    number = "".join(value.split())
    if not (number.isascii() and number.isdigit() and len(number) in (CMND_LENGTH, 12)):
        raise IdentifierError(
            "DOCUMENT_NUMBER_FORMAT",
            "an identity document number is a 9-digit CMND or a 12-digit card number (0–9 only)",
        )
    if len(number) == CMND_LENGTH:
        return IdentityDocument(DocumentKind.CMND, number)
    if birth_registration_place(number[:3]) is None:
        raise IdentifierError(
            "DOCUMENT_NUMBER_PROVINCE",
            f"digits 1–3 ({number[:3]}) of a 12-digit card number are neither a "
            "birth-registration province code nor a country code",
        )
    return IdentityDocument(DocumentKind.CARD, number)


def make_personal_id(*, province_prefix: str, sex: Sex, birth_date: date, serial: int) -> str:
    """A personal ID obeying every rule above (for synthetic data and tests)."""
    if birth_registration_place(province_prefix) is None:
        raise IdentifierError("PERSONAL_ID_PROVINCE", f"unknown prefix {province_prefix!r}")
    if not 0 <= serial < 1_000_000:
        raise ValueError("serial must be in 0..999999")
    if not FIRST_CENTURY <= birth_date.year <= LAST_YEAR:
        raise IdentifierError("PERSONAL_ID_CENTURY_SEX", "birth year must be in 1900–2399")
    digit4 = _century_sex_digit(birth_date.year, sex)
    return f"{province_prefix}{digit4}{birth_date.year % 100:02d}{serial:06d}"


def validate_enterprise_code(value: str) -> str:
    """The compact enterprise code (10 digits, or 13 for a branch), or IdentifierError."""
    compact = mst.compact(value)
    if not compact.isdigit() or len(compact) not in (10, 13):
        raise IdentifierError(
            "ENTERPRISE_CODE_FORMAT",
            "an enterprise code has 10 digits, or 13 for a branch (parent code + 001–999)",
        )
    try:
        return str(mst.validate(compact))
    except InvalidChecksum as error:
        raise IdentifierError(
            "ENTERPRISE_CODE_CHECKSUM", f"check digit of {compact[:10]} is wrong"
        ) from error
    except InvalidComponent as error:
        if len(compact) == 13 and compact.endswith("000"):
            raise IdentifierError(
                "ENTERPRISE_BRANCH_SUFFIX", "a branch suffix runs from 001 to 999"
            ) from error
        raise IdentifierError(
            "ENTERPRISE_CODE_FORMAT", "digits 3–9 (the sequence number) cannot all be 0"
        ) from error
    except (InvalidLength, InvalidFormat) as error:
        raise IdentifierError("ENTERPRISE_CODE_FORMAT", str(error)) from error


def make_enterprise_code(*, serial: int, branch: int | None = None) -> str:
    """A valid enterprise code from the first nine digits `serial` (and a branch number).

    Raises ValueError for the serials no valid code has: a sequence (digits 3–9) of all zeros, or
    a weighted sum that leaves no single check digit (about one serial in eleven).
    """
    if not 0 <= serial < 1_000_000_000:
        raise ValueError("serial must have at most nine digits")
    base = f"{serial:09d}"
    check = mst.calc_check_digit(base)
    if base[2:] == "0000000" or len(check) != 1:
        raise ValueError(f"no valid enterprise code has the first nine digits {base}")
    code = base + check
    if branch is None:
        return code
    if not 1 <= branch <= 999:
        raise ValueError("branch must be in 1..999")
    return f"{code}{branch:03d}"


def parent_enterprise_code(enterprise_code: str) -> str | None:
    """The parent's code of a branch, None for a head office."""
    return enterprise_code[:10] if len(enterprise_code) == 13 else None


HOUSEHOLD_ID_LENGTH = 12
PARCEL_ID_LENGTH = 12
GEOHASH_ALPHABET = frozenset("0123456789bcdefghjkmnpqrstuvwxyz")


def validate_household_id(value: str) -> str:
    """A household ID (số hộ): 12 digits, as the households table's CHECK requires."""
    household_id = value.strip()
    if not (len(household_id) == HOUSEHOLD_ID_LENGTH and household_id.isdigit()):
        raise IdentifierError("HOUSEHOLD_ID_FORMAT", "a household ID has 12 digits")
    return household_id


def validate_parcel_id(value: str) -> str:
    """A national parcel ID: a 12-character GeoHash, as the parcels table's CHECK requires."""
    parcel_id = value.strip()
    if len(parcel_id) != PARCEL_ID_LENGTH or not set(parcel_id) <= GEOHASH_ALPHABET:
        raise IdentifierError(
            "PARCEL_ID_FORMAT",
            "a parcel ID is a 12-character GeoHash (0-9, b-z without a, i, l, o)",
        )
    return parcel_id
