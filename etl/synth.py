"""Deterministic, realistic synthetic agency exports (`lienthong etl synth`).

Residents are written household by household — a head, often a spouse, children whose father
and mother IDs point at the parents — so memory stays flat whatever the count. IDs obey the
registry rules (`registries.identifiers`), addresses are on real 2025 communes, family names
follow their frequencies in Việt Nam. Enterprises take their legal representatives from a
bounded sample of the adult residents; parcels are non-overlapping lots on grids inside real
provinces, held by residents or enterprises.

`--defects SHARE` spoils that share of rows, each with one defect drawn from `DEFECTS`, so tests
and benchmarks can check every reject reason; `--encoding` writes the CSV in a legacy encoding.
"""

from __future__ import annotations

import csv
import io
import json
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from math import cos, radians
from pathlib import Path
from typing import Any

from vietnam_provinces import Ward

from etl.crs import from_wgs84, parse_crs
from etl.encodings import UTF8, encode_legacy
from registries.enterprises.merge import STAGING_COLUMNS as ENTERPRISE_STAGING_COLUMNS
from registries.identifiers import (
    Sex,
    birth_registration_provinces,
    make_enterprise_code,
    make_personal_id,
)
from registries.residents.merge import RESIDENT_COLUMNS

# Family names and their approximate shares of the population (%).
FAMILY_NAMES = (
    ("Nguyễn", 38.4),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.1),
    ("Hoàng", 4.1),
    ("Huỳnh", 1.0),
    ("Phan", 4.5),
    ("Vũ", 3.0),
    ("Võ", 0.9),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    ("Đinh", 0.8),
    ("Trương", 0.8),
    ("Lâm", 0.5),
    ("Mai", 0.5),
    ("Đoàn", 0.5),
    ("Cao", 0.4),
    ("Hà", 0.4),
    ("Lương", 0.3),
    ("Trịnh", 0.3),
    ("Tạ", 0.2),
)
MIDDLE_NAMES = {
    Sex.MALE: (
        ("Văn", 40),
        ("Đức", 10),
        ("Minh", 10),
        ("Quốc", 8),
        ("Hữu", 8),
        ("Công", 6),
        ("Thành", 6),
        ("Xuân", 4),
        ("Anh", 4),
        ("Hoàng", 4),
    ),
    Sex.FEMALE: (
        ("Thị", 50),
        ("Ngọc", 10),
        ("Thu", 8),
        ("Thanh", 8),
        ("Kim", 6),
        ("Phương", 6),
        ("Mỹ", 5),
        ("Bảo", 4),
        ("Hồng", 3),
    ),
}
GIVEN_NAMES = {
    Sex.MALE: (
        "An",
        "Bình",
        "Cường",
        "Dũng",
        "Đạt",
        "Đức",
        "Hải",
        "Hùng",
        "Huy",
        "Khoa",
        "Khánh",
        "Long",
        "Minh",
        "Nam",
        "Phong",
        "Phúc",
        "Quân",
        "Sơn",
        "Tâm",
        "Thắng",
        "Thành",
        "Trung",
        "Tuấn",
        "Việt",
        "Vinh",
    ),
    Sex.FEMALE: (
        "Anh",
        "Chi",
        "Dung",
        "Giang",
        "Hà",
        "Hạnh",
        "Hằng",
        "Hoa",
        "Hồng",
        "Huyền",
        "Hương",
        "Lan",
        "Linh",
        "Loan",
        "Mai",
        "My",
        "Ngân",
        "Ngọc",
        "Nhung",
        "Phương",
        "Quỳnh",
        "Thảo",
        "Thu",
        "Trang",
        "Tuyết",
        "Vân",
        "Yến",
        "Ánh",
    ),
}
STREETS = (
    "Trần Phú",
    "Lê Lợi",
    "Nguyễn Huệ",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Bạch Đằng",
    "Quang Trung",
    "Hùng Vương",
    "Phan Chu Trinh",
    "Điện Biên Phủ",
)
RELIGIONS = ((None, 86), ("Phật giáo", 9), ("Công giáo", 4), ("Cao Đài", 1))

# Provinces that get parcels: (2025 province code, land-office CRS name, lon, lat of a city
# block well inside the province, the corner of the parcel grid).
PARCEL_AREAS = (
    (48, "da-nang", 108.2080, 16.0540),
    (1, "ha-noi", 105.8300, 21.0100),
    (79, "ho-chi-minh", 106.6800, 10.7800),
    (46, "hue", 107.5800, 16.4600),
    (92, "can-tho", 105.7700, 10.0300),
)
LOT_DEGREES = 0.0002  # ≈ 21 m × 22 m lots
GAP_DEGREES = 0.00002  # a path between lots, so no two parcels overlap or touch
ENTERPRISE_PROVINCE_PREFIX = {48: 4, 1: 1, 79: 3, 46: 33, 92: 18}

RESIDENT_DEFECTS = (
    "id_province",
    "id_birth_year",
    "id_century_sex",
    "id_format",
    "date_invalid",
    "duplicate_row",
    "duplicate_key",
    "commune_unknown",
    "sex_invalid",
    "ethnicity_unknown",
    "required_missing",
    "dmy_date",
    "decomposed_name",
)
# What the load makes of each defect: a reject reason code, or None when it is normalised.
DEFECT_OUTCOMES = {
    "id_province": "PERSONAL_ID_PROVINCE",
    "id_birth_year": "PERSONAL_ID_BIRTH_YEAR",
    "id_century_sex": "PERSONAL_ID_CENTURY_SEX",
    "id_format": "PERSONAL_ID_FORMAT",
    "date_invalid": "DATE_INVALID",
    "duplicate_row": "DUPLICATE_ROW",
    "duplicate_key": "DUPLICATE_KEY",
    "commune_unknown": "COMMUNE_UNKNOWN",
    "sex_invalid": "SEX_INVALID",
    "ethnicity_unknown": "ETHNICITY_UNKNOWN",
    "required_missing": "REQUIRED_MISSING",
    "dmy_date": None,
    "decomposed_name": None,
    "self_intersecting": "GEOMETRY_INVALID",
    "vn2000": None,
}


@dataclass
class SynthReport:
    residents: int = 0
    enterprises: int = 0
    parcels: int = 0
    defects: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


class _People:
    """Names, IDs and places, drawn from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.communes: dict[int, list[int]] = {}
        for ward in Ward.iter_all():
            self.communes.setdefault(int(ward.province_code), []).append(int(ward.code))
        self.provinces = sorted(self.communes)
        self.prefixes = sorted(birth_registration_provinces())
        self.hometowns = sorted(birth_registration_provinces().values())
        self._serials: dict[tuple[str, int, int], int] = {}

    def name(self, sex: Sex, family: str) -> str:
        middle = _weighted(self.rng, MIDDLE_NAMES[sex])
        return f"{family} {middle} {self.rng.choice(GIVEN_NAMES[sex])}"

    def family(self) -> str:
        return str(_weighted(self.rng, FAMILY_NAMES))

    def personal_id(self, province: int, sex: Sex, birth_date: date) -> str:
        prefix = f"{province:03d}" if self.rng.random() < 0.9 else self.rng.choice(self.prefixes)
        slot = (prefix, 0 if sex is Sex.MALE else 1, birth_date.year)
        serial = self._serials.get(slot, self.rng.randrange(0, 500_000))
        self._serials[slot] = serial + 1
        return make_personal_id(
            province_prefix=prefix, sex=sex, birth_date=birth_date, serial=serial % 1_000_000
        )

    def address_line(self) -> str:
        if self.rng.random() < 0.6:
            return f"Số {self.rng.randint(1, 300)} đường {self.rng.choice(STREETS)}"
        return f"Tổ {self.rng.randint(1, 40)}, thôn {self.rng.randint(1, 12)}"

    def birth(self, start: int, end: int) -> date:
        first = date(start, 1, 1)
        return first + timedelta(days=self.rng.randrange((date(end, 12, 31) - first).days))


def _resident(
    people: _People,
    *,
    personal_id: str,
    full_name: str,
    sex: Sex,
    birth_date: date,
    household: dict[str, Any],
    relationship: str,
) -> dict[str, Any]:
    rng = people.rng
    issued = max(birth_date + timedelta(days=14 * 366), date(2021, 1, 1)) + timedelta(
        days=rng.randrange(900)
    )
    # the card expires on the 25th, 40th or 60th birthday (29 February counts as 1 March)
    age_limits = [
        date(birth_date.year + age, 3, 1)
        if (birth_date.month, birth_date.day) == (2, 29)
        else birth_date.replace(year=birth_date.year + age)
        for age in (25, 40, 60)
    ]
    expires = next((limit for limit in age_limits if limit > issued), None)
    elderly = birth_date.year < 1950
    deceased = elderly and rng.random() < 0.05
    return {
        "personal_id": personal_id,
        "full_name": full_name,
        "birth_date": birth_date.isoformat(),
        "sex": sex.value,
        "ethnicity": str(_weighted(rng, ((1, 85), (2, 2), (3, 2), (6, 2), (5, 1.5), (4, 1)))),
        "religion": _weighted(rng, RELIGIONS) or "",
        "nationality": "VN",
        "place_of_birth": household["hometown"],
        "hometown": household["hometown"],
        "permanent_commune_code": household["commune"],
        "permanent_address_line": household["address"],
        "temporary_commune_code": "",
        "temporary_address_line": "",
        "household_id": household["id"],
        "relationship_to_head": relationship,
        "father_id": "",
        "mother_id": "",
        "spouse_id": "",
        "marital_status": "single",
        "deceased": "true" if deceased else "false",
        "deceased_on": date(2024, 1, 1 + rng.randrange(28)).isoformat() if deceased else "",
        "id_card_number": personal_id if issued <= date(2025, 6, 30) else "",
        "id_card_issued_on": issued.isoformat() if issued <= date(2025, 6, 30) else "",
        "id_card_expires_on": expires.isoformat()
        if expires and issued <= date(2025, 6, 30)
        else "",
    }


def households(people: _People) -> Iterator[list[dict[str, Any]]]:
    """An endless stream of households, each a list of consistent resident rows."""
    rng = people.rng
    number = 0
    while True:
        number += 1
        province = rng.choice(people.provinces)
        household = {
            "id": f"{province:02d}{number:010d}",
            "commune": rng.choice(people.communes[province]),
            "address": people.address_line(),
            "hometown": rng.choice(people.hometowns),
        }
        family = people.family()
        head_sex = Sex.MALE if rng.random() < 0.7 else Sex.FEMALE
        head_birth = people.birth(1945, 1998)
        head = _resident(
            people,
            personal_id=people.personal_id(province, head_sex, head_birth),
            full_name=people.name(head_sex, family),
            sex=head_sex,
            birth_date=head_birth,
            household=household,
            relationship="head",
        )
        members = [head]
        spouse = None
        if rng.random() < 0.8:
            spouse_sex = Sex.FEMALE if head_sex is Sex.MALE else Sex.MALE
            spouse_birth = head_birth + timedelta(days=rng.randint(-5 * 365, 5 * 365))
            spouse = _resident(
                people,
                personal_id=people.personal_id(province, spouse_sex, spouse_birth),
                full_name=people.name(spouse_sex, people.family()),
                sex=spouse_sex,
                birth_date=spouse_birth,
                household=household,
                relationship="wife" if spouse_sex is Sex.FEMALE else "husband",
            )
            for one, other in ((head, spouse), (spouse, head)):
                one["spouse_id"] = other["personal_id"]
                one["marital_status"] = "married"
            members.append(spouse)
            father, mother = (head, spouse) if head_sex is Sex.MALE else (spouse, head)
            younger = max(date.fromisoformat(head["birth_date"]), spouse_birth)
            for _ in range(rng.choice((0, 1, 1, 2, 2, 2, 3))):
                child_sex = Sex.MALE if rng.random() < 0.51 else Sex.FEMALE
                start = younger.year + 20
                if start > 2024:
                    break
                child_birth = people.birth(start, min(younger.year + 40, 2024))
                child = _resident(
                    people,
                    personal_id=people.personal_id(province, child_sex, child_birth),
                    full_name=people.name(child_sex, father["full_name"].split()[0]),
                    sex=child_sex,
                    birth_date=child_birth,
                    household=household,
                    relationship="son" if child_sex is Sex.MALE else "daughter",
                )
                child["father_id"] = father["personal_id"]
                child["mother_id"] = mother["personal_id"]
                members.append(child)
        yield members


def _spoiled_id(personal_id: str, birth: date, defect: str) -> str:
    if defect == "id_province":
        return "003" + personal_id[3:]
    if defect == "id_birth_year":
        return personal_id[:4] + f"{(birth.year + 1) % 100:02d}" + personal_id[6:]
    if defect == "id_century_sex":
        return personal_id[:3] + str(int(personal_id[3]) ^ 1) + personal_id[4:]
    return personal_id[:11]  # id_format


def _spoil(row: dict[str, Any], defect: str) -> list[dict[str, Any]]:
    """The row(s) to write for a resident spoiled by `defect`."""
    birth = date.fromisoformat(row["birth_date"])
    if defect.startswith("id_"):
        return [{**row, "personal_id": _spoiled_id(row["personal_id"], birth, defect)}]
    if defect == "duplicate_row":
        return [row, dict(row)]
    if defect == "duplicate_key":
        return [row, {**row, "full_name": row["full_name"] + " Bis"}]
    changes_by_defect: dict[str, dict[str, Any]] = {
        "date_invalid": {"birth_date": f"31/02/{birth.year}"},
        "commune_unknown": {"permanent_commune_code": 99_999},
        "sex_invalid": {"sex": "X"},
        "ethnicity_unknown": {"ethnicity": "Atlantis"},
        "required_missing": {"full_name": ""},
        "dmy_date": {"birth_date": birth.strftime("%d/%m/%Y")},
        "decomposed_name": {"full_name": unicodedata.normalize("NFD", row["full_name"])},
    }
    return [{**row, **changes_by_defect[defect]}]


class _CsvOut:
    """A CSV file written in UTF-8 or, line by line, in a legacy encoding."""

    def __init__(self, path: Path, columns: Sequence[str], encoding: str) -> None:
        self.encoding = encoding
        self.columns = list(columns)
        self.handle = path.open("wb")
        self.buffer = io.StringIO()
        self.writer = csv.DictWriter(self.buffer, fieldnames=self.columns, lineterminator="\n")
        self.writer.writeheader()
        self._flush()

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow(row)
        self._flush()

    def _flush(self) -> None:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        if self.encoding == UTF8:
            self.handle.write(text.encode("utf-8"))
            return
        encoded = encode_legacy(text, self.encoding)
        if encoded is None:
            raise ValueError(f"{self.encoding} cannot carry {text.strip()!r} exactly")
        self.handle.write(encoded)

    def close(self) -> None:
        self.handle.close()


@dataclass
class SynthOptions:
    residents: int
    enterprises: int
    parcels: int
    out: Path
    seed: int = 1
    defects: float = 0.0
    encoding: str = UTF8
    parcel_crs: str | None = None  # write parcels in this CRS (e.g. VN2000:da-nang) instead


def synthesize(options: SynthOptions, progress: Any = None) -> SynthReport:
    """Write residents.csv, enterprises.csv and parcels.geojson under `options.out`."""
    options.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)
    people = _People(rng)
    report = SynthReport()
    adults: list[str] = []  # reservoir sample of adult IDs: representatives and right holders
    reservoir = 50_000
    seen_adults = 0
    path = options.out / "residents.csv"
    out = _CsvOut(
        path,
        [*RESIDENT_COLUMNS[:4], "ethnicity", *_exported(RESIDENT_COLUMNS[5:])],
        options.encoding,
    )
    try:
        for members in households(people):
            for member in members:
                if report.residents >= options.residents:
                    break
                report.residents += 1
                if progress is not None:
                    progress(1)
                if member["birth_date"] < "2006-01-01":
                    seen_adults += 1
                    if len(adults) < reservoir:
                        adults.append(member["personal_id"])
                    elif (slot := rng.randrange(seen_adults)) < reservoir:
                        adults[slot] = member["personal_id"]
                rows = [member]
                if options.defects and rng.random() < options.defects:
                    defect = rng.choice(RESIDENT_DEFECTS)
                    report.defects[defect] = report.defects.get(defect, 0) + 1
                    rows = _spoil(member, defect)
                for row in rows:
                    out.write(row)
            if report.residents >= options.residents:
                break
    finally:
        out.close()
    report.files.append(path)
    enterprise_codes = _write_enterprises(options, people, adults, report)
    _write_parcels(options, people, adults, enterprise_codes, report)
    return report


ENTERPRISE_WORDS = (
    "Sông Hàn",
    "Hải Vân",
    "Bình Minh",
    "Phú Cường",
    "Thành Công",
    "Hòa Phát",
    "Việt Tiến",
    "Nam Việt",
    "An Khang",
    "Tân Phú",
    "Hưng Thịnh",
    "Đại Dương",
)
ENTERPRISE_KINDS = (
    ("tnhh_1tv", "Công ty TNHH Một thành viên", 40),
    ("tnhh_2tv", "Công ty TNHH", 30),
    ("co_phan", "Công ty Cổ phần", 22),
    ("tu_nhan", "Doanh nghiệp tư nhân", 7),
    ("hop_danh", "Công ty Hợp danh", 1),
)
ACTIVITIES = (
    ("Thương mại", ("46900", "47190", "47110")),
    ("Xây dựng", ("41010", "41020", "43210")),
    ("Công nghệ", ("62010", "62020", "63110")),
    ("Du lịch", ("79110", "79120", "55101")),
    ("Vận tải", ("49331", "49332", "45200")),
)


def _exported(columns: tuple[str, ...]) -> list[str]:
    """Registry columns an export writes: not the provenance a load derives from the rest."""
    return [column for column in columns if column != "provenance"]


def _write_enterprises(
    options: SynthOptions, people: _People, adults: list[str], report: SynthReport
) -> list[str]:
    rng = people.rng
    path = options.out / "enterprises.csv"
    out = _CsvOut(path, _exported(ENTERPRISE_STAGING_COLUMNS), options.encoding)
    codes: list[str] = []
    serial = 0
    try:
        while len(codes) < options.enterprises and adults:
            serial += 1
            province, *_ = rng.choice(PARCEL_AREAS)
            try:
                code = make_enterprise_code(
                    serial=ENTERPRISE_PROVINCE_PREFIX[province] * 10_000_000 + serial
                )
            except ValueError:
                continue
            kind, title, _weight = rng.choices(
                ENTERPRISE_KINDS, weights=[k[2] for k in ENTERPRISE_KINDS]
            )[0]
            activity, lines = rng.choice(ACTIVITIES)
            word = rng.choice(ENTERPRISE_WORDS)
            main = rng.choice(lines)
            others = [line for line in lines if line != main][: rng.randint(0, 2)]
            representatives = rng.sample(adults, k=min(len(adults), rng.choice((1, 1, 1, 2))))
            out.write(
                {
                    "enterprise_code": code,
                    "name": f"{title} {activity} {word}",
                    "foreign_name": "",
                    "short_name": "",
                    "enterprise_type": kind,
                    "status": _weighted(
                        rng,
                        (
                            ("active", 88),
                            ("suspended", 5),
                            ("dissolving", 3),
                            ("dissolved", 3),
                            ("bankrupt", 1),
                        ),
                    ),
                    "registered_on": people.birth(2000, 2024).isoformat(),
                    "charter_capital": rng.choice((1, 2, 5, 10, 50, 100)) * 1_000_000_000,
                    "head_office_commune_code": rng.choice(people.communes[province]),
                    "head_office_address_line": people.address_line(),
                    "representatives": "|".join(
                        f"{pid}:{'Giám đốc' if i == 0 else 'Phó Giám đốc'}"
                        for i, pid in enumerate(representatives)
                    ),
                    "business_lines": "|".join([f"{main}*", *others]),
                }
            )
            codes.append(code)
            report.enterprises += 1
    finally:
        out.close()
    report.files.append(path)
    return codes


def _write_parcels(
    options: SynthOptions,
    people: _People,
    adults: list[str],
    enterprise_codes: list[str],
    report: SynthReport,
) -> None:
    rng = people.rng
    path = options.out / "parcels.geojson"
    transformer = from_wgs84(parse_crs(options.parcel_crs)) if options.parcel_crs else None
    per_row = 100
    with path.open("w", encoding="utf-8") as handle:
        # GeoJSON carries no CRS (RFC 7946): a VN-2000 export is loaded with `--crs`.
        handle.write('{"type": "FeatureCollection", "features": [\n')
        for number in range(options.parcels):
            province, _crs_name, lon0, lat0 = PARCEL_AREAS[number % len(PARCEL_AREAS)]
            slot = number // len(PARCEL_AREAS)
            lon = lon0 + (slot % per_row) * (LOT_DEGREES + GAP_DEGREES)
            lat = lat0 + (slot // per_row) * (LOT_DEGREES + GAP_DEGREES)
            ring = [
                (lon, lat),
                (lon + LOT_DEGREES, lat),
                (lon + LOT_DEGREES, lat + LOT_DEGREES),
                (lon, lat + LOT_DEGREES),
                (lon, lat),
            ]
            if options.defects and rng.random() < options.defects:
                report.defects["self_intersecting"] = report.defects.get("self_intersecting", 0) + 1
                ring[1], ring[2] = ring[2], ring[1]  # a bow tie: the ring crosses itself
            if transformer is not None:
                ring = [transformer.transform(x, y) for x, y in ring]
            holder_is_enterprise = enterprise_codes and rng.random() < 0.15
            holder_kind = "enterprise" if holder_is_enterprise else "resident"
            holder = rng.choice(enterprise_codes if holder_is_enterprise else adults)
            feature = {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "commune_code": rng.choice(people.communes[province]),
                    "map_sheet": 1 + slot // (per_row * 10),
                    "parcel_number": 1 + slot,
                    "declared_area": _lot_area(lat),
                    "land_use_code": _weighted(
                        rng, (("ODT", 50), ("ONT", 20), ("CLN", 15), ("LUC", 10), ("TMD", 5))
                    ),
                    "address_line": people.address_line(),
                    "rights": f"{holder_kind}:{holder}:use_right:CS{number + 1:07d}",
                },
            }
            separator = ",\n" if number else ""
            handle.write(separator + json.dumps(feature, ensure_ascii=False))
            report.parcels += 1
        handle.write("\n]}\n")
    report.files.append(path)


def _lot_area(lat: float) -> float:
    """Declared area of a lot at this latitude, rounded as a cadastral record would be."""
    metres_lon = LOT_DEGREES * 111_320 * cos(radians(lat))
    metres_lat = LOT_DEGREES * 110_574
    return round(metres_lon * metres_lat, 1)
