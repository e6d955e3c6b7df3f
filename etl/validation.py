"""Row validation and normalisation: from an export's text fields to registry values.

The identifier rules are the registries' (`registries.identifiers`); this module only applies
them, parses what exports write (dd/mm/yyyy dates, Nam/Nữ, names in any Unicode form) and
names what is wrong with a row by a stable reason code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from etl.encodings import nfc
from registries.enterprises.models import ENTERPRISE_STATUSES, ENTERPRISE_TYPES
from registries.identifiers import (
    IdentifierError,
    Sex,
    birth_year_of,
    sex_of,
    validate_document_number,
    validate_enterprise_code,
    validate_household_id,
    validate_personal_id,
)
from registries.parcels.models import HOLDER_KINDS, RIGHT_KINDS
from registries.parcels.service import GeometryError, check_declared_area, check_lon_lat
from registries.reference.service import FormerCommune, ReferenceCodes, unit_name_key

_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")

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


def text(raw: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = raw.get(field)
    cleaned = " ".join(str(value).split()) if value is not None else ""
    if not cleaned.isascii():  # ASCII is NFC already; this runs for every field of every row
        cleaned = nfc(cleaned)
    if not cleaned:
        if required:
            raise RowError("REQUIRED_MISSING", f"{field} is required")
        return None
    return cleaned


def parse_date(raw: Mapping[str, Any], field: str, *, required: bool = False) -> date | None:
    value = text(raw, field, required=required)
    if value is None:
        return None
    try:
        if _ISO.match(value):  # the pattern first: fromisoformat alone also takes 20230101
            return date.fromisoformat(value)
        match = _DMY.match(value)
        if match:
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
    except ValueError as error:  # a day the calendar does not have
        raise RowError("DATE_INVALID", f"{field} {value!r}: {error}") from error
    raise RowError("DATE_INVALID", f"{field} {value!r} is neither yyyy-mm-dd nor dd/mm/yyyy")


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


def commune(raw: Mapping[str, Any], field: str, reference: ReferenceCodes) -> int | None:
    code = parse_int(raw, field)
    if code is not None and code not in reference.commune_codes:
        raise RowError("COMMUNE_UNKNOWN", f"{field} {code} is not a commune code (2025 list)")
    return code


# A commune field's companion column naming the commune as it was before the 2025
# reorganisation: a pre-2025 code, or names "commune, district[, province]" (docs/loads.md)
BEFORE_2025 = "_before_2025"
_FORMER_CODE = re.compile(r"^\d{1,5}$")


def commune_converted(
    raw: Mapping[str, Any], field: str, reference: ReferenceCodes, *, by_population: bool
) -> tuple[int | None, dict[str, Any] | None]:
    """The 2025 commune a row names in `field`, or in `field` + `_before_2025` as it was
    before the reorganisation (converted through the crosswalk), with how it was converted.

    A former commune split between several 2025 communes is converted only when the row also
    gives the 2025 code (it must be one of the parts) or, with `by_population` (a resident's
    address), when the source says one part took the whole population; else COMMUNE_SPLIT
    names the parts."""
    code = commune(raw, field, reference)
    written = text(raw, field + BEFORE_2025)
    if written is None:
        return code, None
    former = _former_commune(written, field + BEFORE_2025, reference)
    parts = former.into
    if code is not None:
        if code not in parts:
            raise RowError(
                "COMMUNE_FORMER_MISMATCH",
                f"{field} {code} is not one of the 2025 communes {former.name} "
                f"({former.code:05d}) went into: {_codes(parts)}",
            )
        rule = "single" if len(parts) == 1 else "given"
    elif len(parts) == 1:
        code, rule = parts[0], "single"
    elif by_population and former.population is not None:
        code, rule = former.population, "population"
    else:
        raise RowError(
            "COMMUNE_SPLIT",
            f"{field + BEFORE_2025}: {former.name} ({former.code:05d}) was split between the "
            f"2025 communes {_codes(parts)}; give the one in {field}",
        )
    return code, {"code": former.code, "as_written": written, "rule": rule}


def _codes(codes: tuple[int, ...]) -> str:
    return ", ".join(f"{code:05d}" for code in codes)


def _former_commune(written: str, column: str, reference: ReferenceCodes) -> FormerCommune:
    if _FORMER_CODE.match(written):
        found = reference.former_communes.get(int(written))
        if found is None:
            raise RowError(
                "COMMUNE_FORMER_UNKNOWN", f"{column} {written} is not a commune code before 2025"
            )
    else:
        parts = tuple(unit_name_key(part) for part in written.split(","))
        if not 2 <= len(parts) <= 3 or not all(parts) or any(p.isdigit() for p in parts):
            raise RowError(
                "COMMUNE_FORMER_INVALID",
                f"{column} {written!r} is neither a commune code nor "
                "'commune, district[, province]'",
            )
        codes = reference.former_names.get(parts, ())
        if not codes:
            raise RowError(
                "COMMUNE_FORMER_UNKNOWN", f"{column} {written!r} names no commune before 2025"
            )
        if len(codes) > 1:
            raise RowError(
                "COMMUNE_FORMER_AMBIGUOUS",
                f"{column} {written!r} names several communes before 2025 ({_codes(codes)}): "
                "give the province, or the code",
            )
        found = reference.former_communes[codes[0]]
    if not found.into:
        raise RowError(
            "COMMUNE_FORMER_UNMAPPED",
            f"{column}: {found.name} ({found.code:05d}) was merged before the 2025 crosswalk "
            "and has no 2025 commune of its own: give the 2025 code",
        )
    return found


def _provenance(**parts: dict[str, Any]) -> str | None:
    """A record's provenance as stored (JSON text, staged as it is), or None when empty."""
    kept = {name: part for name, part in parts.items() if part}
    return json.dumps(kept, ensure_ascii=False, sort_keys=True) if kept else None


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


FAMILY_LINKS = ("father_id", "mother_id", "spouse_id")
_PARENTS = (("father_id", "father", Sex.MALE), ("mother_id", "mother", Sex.FEMALE))


def family_links(resident: str, birth_date: date, relatives: Mapping[str, str | None]) -> None:
    """What a row's own family links may not say (docs/loads.md, "Family links"): the resident
    as their own relative, a father or mother whose personal ID says the other sex, or a parent
    whose ID says they were born in a later year than the resident. What needs the relative's
    record (a parent's full birth date, a spouse's own spouse) is checked against the load and
    the registry once staged (registries.residents.family)."""
    if not any(relatives.values()):  # most rows: nothing to check, and millions of them
        return
    for field, relative in relatives.items():
        if relative == resident:
            raise RowError("FAMILY_SELF_LINK", f"{field} is the resident's own personal ID")
    for field, role, sex in _PARENTS:
        relative = relatives.get(field)
        if relative is None:
            continue
        if sex_of(relative) is not sex:
            raise RowError(
                "FAMILY_PARENT_SEX",
                f"{field} {relative}: digit 4 says {sex_of(relative).value}; a {role} is "
                f"{sex.value}",
            )
        born = birth_year_of(relative)
        if born > birth_date.year:
            raise RowError(
                "FAMILY_PARENT_YOUNGER",
                f"{field} {relative}: digits 4–6 say the {role} was born in {born}, after the "
                f"resident ({birth_date.isoformat()})",
            )


def card_number(raw: Mapping[str, Any], field: str, *, personal: str | None = None) -> str | None:
    """An identity card number as stored: a 9-digit CMND or a 12-digit card number
    (registries.identifiers.validate_document_number), spaces removed. A căn cước's number is
    the holder's personal ID (`personal`), validated already."""
    value = text(raw, field)
    if value is None or value == personal:
        return value
    try:
        return validate_document_number(value).number
    except IdentifierError as error:
        raise RowError("ID_CARD_NUMBER_INVALID", f"{field} {value!r}: {error}") from error


def resident_row(raw: Mapping[str, Any], reference: ReferenceCodes) -> dict[str, Any]:
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
    household_id = text(raw, "household_id")
    if household_id is not None:
        try:
            household_id = validate_household_id(household_id)
        except IdentifierError as error:
            raise RowError(
                "HOUSEHOLD_ID_INVALID", f"household_id {household_id!r}: {error}"
            ) from error
    deceased = parse_bool(raw, "deceased")
    deceased_on = parse_date(raw, "deceased_on")
    if deceased_on is not None and not deceased:
        raise RowError("DECEASED_INCONSISTENT", "deceased_on is set but deceased is false")
    permanent, permanent_former = commune_converted(
        raw, "permanent_commune_code", reference, by_population=True
    )
    temporary, temporary_former = commune_converted(
        raw, "temporary_commune_code", reference, by_population=True
    )
    former = {}
    if permanent_former is not None:
        former["permanent_commune_code"] = permanent_former
    if temporary_former is not None:
        former["temporary_commune_code"] = temporary_former
    resident = personal_id(raw, "personal_id", required=True, birth_date=birth_date, sex=sex)
    relatives = {name: personal_id(raw, name) for name in FAMILY_LINKS}
    if resident is not None and birth_date is not None:
        family_links(resident, birth_date, relatives)
    return {
        "personal_id": resident,
        "full_name": text(raw, "full_name", required=True),
        "birth_date": birth_date,
        "sex": sex.value,
        "ethnicity_code": ethnicity_code,
        "religion": text(raw, "religion"),
        "nationality": (text(raw, "nationality") or "VN").upper(),
        "place_of_birth": text(raw, "place_of_birth"),
        "hometown": text(raw, "hometown"),
        "permanent_commune_code": permanent,
        "permanent_address_line": text(raw, "permanent_address_line"),
        "temporary_commune_code": temporary,
        "temporary_address_line": text(raw, "temporary_address_line"),
        "household_id": household_id,
        "relationship_to_head": text(raw, "relationship_to_head"),
        **relatives,
        "marital_status": marital_status,
        "deceased": deceased,
        "deceased_on": deceased_on,
        "id_card_number": card_number(raw, "id_card_number", personal=resident),
        "id_card_issued_on": parse_date(raw, "id_card_issued_on"),
        "id_card_expires_on": parse_date(raw, "id_card_expires_on"),
        "provenance": _provenance(former_units=former),
    }


def enterprise_row(raw: Mapping[str, Any], reference: ReferenceCodes) -> dict[str, Any]:
    """A validated enterprise row; representatives and business lines in their staged form."""
    code = text(raw, "enterprise_code", required=True) or ""
    try:
        enterprise_code = validate_enterprise_code(code)
    except IdentifierError as error:
        raise RowError(error.code, f"enterprise_code: {error}") from error
    enterprise_type = text(raw, "enterprise_type", required=True)
    if enterprise_type not in ENTERPRISE_TYPES:
        raise RowError(
            "ENTERPRISE_TYPE_INVALID",
            f"enterprise_type {enterprise_type!r}; expected one of {', '.join(ENTERPRISE_TYPES)}",
        )
    status = text(raw, "status", required=True)
    if status not in ENTERPRISE_STATUSES:
        raise RowError(
            "STATUS_INVALID",
            f"status {status!r}; expected one of {', '.join(ENTERPRISE_STATUSES)}",
        )
    capital = parse_decimal(raw, "charter_capital", required=True)
    if capital is None or capital < 0 or capital != capital.to_integral_value():
        raise RowError("CAPITAL_INVALID", f"charter_capital {capital} is not whole dong ≥ 0")
    head_office, head_office_former = commune_converted(
        raw, "head_office_commune_code", reference, by_population=False
    )
    if head_office is None:
        _required("head_office_commune_code")
    lines, unchecked = _business_lines(text(raw, "business_lines") or "", reference)
    return {
        "enterprise_code": enterprise_code,
        "name": text(raw, "name", required=True),
        "foreign_name": text(raw, "foreign_name"),
        "short_name": text(raw, "short_name"),
        "enterprise_type": enterprise_type,
        "status": status,
        "registered_on": parse_date(raw, "registered_on", required=True),
        "charter_capital": capital,
        "head_office_commune_code": head_office,
        "head_office_address_line": text(raw, "head_office_address_line", required=True),
        "representatives": _representatives(text(raw, "representatives") or ""),
        "business_lines": lines,
        "provenance": _provenance(
            former_units={"head_office_commune_code": head_office_former}
            if head_office_former
            else {},
            unchecked={"business_lines": unchecked} if unchecked else {},
        ),
        "warnings": ("VSIC_UNCHECKED",) if unchecked else (),
    }


def _required(field: str) -> Any:
    raise RowError("REQUIRED_MISSING", f"{field} is required")


def _representatives(value: str) -> str:
    items = []
    for item in filter(None, (part.strip() for part in value.split("|"))):
        personal, _, title = item.partition(":")
        try:
            personal = validate_personal_id(personal)
        except IdentifierError as error:
            raise RowError("REPRESENTATIVE_ID_INVALID", f"representative: {error}") from error
        items.append(f"{personal}:{title.strip() or 'Người đại diện theo pháp luật'}")
    if not items:
        raise RowError("REQUIRED_MISSING", "an enterprise needs a legal representative")
    return "|".join(items)


_VSIC_LEVEL_5 = re.compile(r"^\d{5}$")


def _business_lines(value: str, reference: ReferenceCodes) -> tuple[str, list[str]]:
    """The lines the VSIC table knows, staged, and the five-digit codes it does not know.

    `registries/data/vsic.csv` is a partial VSIC 2018 (docs/loads.md, "VSIC"): a five-digit
    code it lacks is kept in the record's provenance, flagged (warning VSIC_UNCHECKED), and the
    record loads; a value that is no VSIC code at all is rejected (VSIC_UNKNOWN)."""
    lines = [part.strip() for part in value.split("|") if part.strip()]
    unknown = [line for line in lines if line.rstrip("*") not in reference.vsic_codes]
    malformed = [line for line in unknown if not _VSIC_LEVEL_5.match(line.rstrip("*"))]
    if malformed:
        raise RowError("VSIC_UNKNOWN", f"business lines {', '.join(malformed)} are not VSIC codes")
    if sum(line.endswith("*") for line in lines) != 1:
        raise RowError("MAIN_LINE_INVALID", "exactly one business line must be marked main (*)")
    known = [line for line in lines if line not in unknown]
    return "|".join(known), unknown


def parcel_row(
    raw: Mapping[str, Any], geometry: BaseGeometry | None, reference: ReferenceCodes
) -> dict[str, Any]:
    """A validated parcel row: geometry in WGS 84 as hex EWKB, rights in their staged form."""
    if geometry is None:
        raise RowError("REQUIRED_MISSING", "a parcel needs a geometry")
    polygon = geometry if geometry.geom_type == "MultiPolygon" else None
    if geometry.geom_type == "Polygon":
        polygon = MultiPolygon([geometry])
    if polygon is None or polygon.is_empty:
        raise RowError("GEOMETRY_TYPE", f"expected a Polygon, got {geometry.geom_type}")
    if not polygon.is_valid:
        raise RowError("GEOMETRY_INVALID", f"invalid polygon: {shapely.is_valid_reason(polygon)}")
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    try:
        check_lon_lat(min_lon, min_lat)
        check_lon_lat(max_lon, max_lat)
        declared = parse_decimal(raw, "declared_area", required=True) or Decimal(0)
        check_declared_area(polygon, declared)
    except GeometryError as error:
        raise RowError(error.code, str(error)) from error
    land_use = text(raw, "land_use_code", required=True)
    if land_use not in reference.land_use_codes:
        raise RowError("LAND_USE_UNKNOWN", f"land_use_code {land_use!r} is not a land-use code")
    return {
        "commune_code": commune(raw, "commune_code", reference) or _required("commune_code"),
        "map_sheet": parse_int(raw, "map_sheet", required=True),
        "parcel_number": parse_int(raw, "parcel_number", required=True),
        "geom": shapely.to_wkb(shapely.set_srid(polygon, 4326), hex=True, include_srid=True),
        "declared_area": declared,
        "land_use_code": land_use,
        "address_line": text(raw, "address_line"),
        "rights": _rights(text(raw, "rights") or ""),
    }


def _rights(value: str) -> str:
    items = []
    for item in filter(None, (part.strip() for part in value.split("|"))):
        holder_kind, holder_id, kind, certificate = ([*item.split(":"), "", "", ""])[:4]
        if holder_kind not in HOLDER_KINDS or kind not in RIGHT_KINDS:
            raise RowError("RIGHT_INVALID", f"right {item!r}: holder kind or right kind unknown")
        try:
            holder_id = (
                validate_personal_id(holder_id)
                if holder_kind == "resident"
                else validate_enterprise_code(holder_id)
            )
        except IdentifierError as error:
            raise RowError("HOLDER_ID_INVALID", f"right holder: {error}") from error
        items.append(f"{holder_kind}:{holder_id}:{kind}:{certificate}")
    return "|".join(items)
