"""ETL loads against the real database: every row accounted for, idempotent, versioned."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pytest
from pyproj import Geod
from sqlalchemy.ext.asyncio import AsyncSession

from etl import pipeline
from etl.pipeline import LoadError, LoadReport, load
from etl.readers import SourceError
from etl.synth import DEFECT_OUTCOMES, SynthOptions, synthesize
from gateway.graph.masking import apply_mask
from gateway.graph.reference import ReferenceCache
from gateway.graph.schema import _former_units_of_commune, _province
from gateway.graph.types import address
from lienthong.settings import Settings
from registries.events import Outbox
from registries.merge import MergeCounts
from tests.functional.loads import REGISTRY_TABLES


@pytest.fixture
def clean(settings: Settings) -> Iterator[Settings]:
    """The ETL commits on its own connections: empty the registries after each test."""
    yield settings
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {REGISTRY_TABLES}")


def _query(settings: Settings, statement: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(settings.libpq_url) as connection:
        return connection.execute(statement, params).fetchall()


def _synth(tmp_path: Path, **options: object) -> Path:
    out = tmp_path / str(options.pop("name", "src"))
    values: dict[str, object] = {"residents": 300, "enterprises": 20, "parcels": 30, "seed": 11}
    values.update(options)
    synthesize(SynthOptions(out=out, **values))  # type: ignore[arg-type]
    return out


def _assert_balanced(report: LoadReport) -> None:
    assert report.balanced
    assert report.read == report.inserted + report.updated + report.unchanged + report.rejected


def test_a_clean_file_loads_fully_and_a_second_load_changes_nothing(
    clean: Settings, tmp_path: Path
) -> None:
    source = _synth(tmp_path)
    first = load(settings=clean, target="residents", path=source / "residents.csv")
    _assert_balanced(first)
    assert (first.read, first.inserted, first.rejected) == (300, 300, 0)
    assert first.rejects_path is None
    assert _query(clean, "SELECT count(*) FROM residents") == [(300,)]
    households = _query(clean, "SELECT count(*) FROM households")[0][0]
    heads = _query(clean, "SELECT count(*) FROM residents WHERE relationship_to_head = 'head'")
    assert households == heads[0][0]
    second = load(settings=clean, target="residents", path=source / "residents.csv")
    _assert_balanced(second)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 300)
    assert second.changed_nothing
    runs = _query(clean, "SELECT status, read, inserted, unchanged FROM etl_runs ORDER BY run_id")
    assert runs == [("done", 300, 300, 0), ("done", 300, 0, 300)]


def test_a_changed_row_opens_exactly_one_new_version(clean: Settings, tmp_path: Path) -> None:
    path = _synth(tmp_path) / "residents.csv"
    load(settings=clean, target="residents", path=path)
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[7]["permanent_address_line"] = "Số 1 đường Bạch Đằng"
    changed_id = rows[7]["personal_id"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = load(settings=clean, target="residents", path=path)
    _assert_balanced(report)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 299)
    versions = _query(
        clean,
        "SELECT permanent_address_line, valid_to IS NULL FROM residents "
        "WHERE personal_id = %s ORDER BY valid_from",
        changed_id,
    )
    assert len(versions) == 2
    assert versions[1] == ("Số 1 đường Bạch Đằng", True)
    assert versions[0][1] is False


def test_every_defect_kind_is_rejected_with_its_own_reason(clean: Settings, tmp_path: Path) -> None:
    source = _synth(tmp_path, residents=1500, parcels=120, defects=0.4)
    injected = synthesize(
        SynthOptions(
            out=tmp_path / "again", residents=1500, enterprises=20, parcels=120, seed=11,
            defects=0.4,
        )
    ).defects  # fmt: skip
    report = load(settings=clean, target="residents", path=source / "residents.csv")
    _assert_balanced(report)
    parcels = load(settings=clean, target="parcels", path=source / "parcels.geojson")
    _assert_balanced(parcels)
    expected: Counter[str] = Counter()
    for defect, count in injected.items():
        outcome = DEFECT_OUTCOMES[defect]
        if outcome is not None:
            expected[outcome] += count
    observed = report.rejected_by_reason + parcels.rejected_by_reason
    assert observed == expected
    assert set(expected) >= {
        "PERSONAL_ID_PROVINCE", "PERSONAL_ID_BIRTH_YEAR", "PERSONAL_ID_CENTURY_SEX",
        "PERSONAL_ID_FORMAT", "DATE_INVALID", "DUPLICATE_ROW", "DUPLICATE_KEY",
        "COMMUNE_UNKNOWN", "SEX_INVALID", "ETHNICITY_UNKNOWN", "REQUIRED_MISSING",
        "GEOMETRY_INVALID",
    }  # fmt: skip
    assert report.rejects_path is not None
    with report.rejects_path.open(encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert Counter(row["reason_code"] for row in rejected) == report.rejected_by_reason
    assert all(json.loads(row["source_row"]) for row in rejected)
    stored = _query(
        clean,
        "SELECT reason_code, count(*) FROM etl_rejects WHERE run_id = %s GROUP BY 1",
        report.run_id,
    )
    assert dict(stored) == dict(report.rejected_by_reason)  # type: ignore[arg-type]


def test_counting_valid_rows_validates_as_a_load_does_and_loads_nothing(
    clean: Settings, tmp_path: Path
) -> None:
    path = _synth(tmp_path, residents=800, defects=0.3) / "residents.csv"
    with psycopg.connect(clean.libpq_url) as connection:
        read, valid = pipeline.count_valid(connection=connection, target="residents", path=path)
    assert _query(clean, "SELECT count(*) FROM residents") == [(0,)]
    assert _query(clean, "SELECT count(*) FROM etl_runs") == [(0,)]
    counted_rejects = Path(f"{path}.rejects.csv").read_text(encoding="utf-8")
    report = load(settings=clean, target="residents", path=path)
    assert 0 < valid < read
    assert (read, valid) == (report.read, report.inserted)
    assert report.rejects_path is not None
    assert report.rejects_path.read_text(encoding="utf-8") == counted_rejects


def test_normalisable_variants_load_normalised(clean: Settings, tmp_path: Path) -> None:
    path = tmp_path / "variants.csv"
    path.write_text(
        "personal_id,full_name,birth_date,sex,ethnicity,deceased\n"
        "048085000123,Nguye\u0302\u0303n Va\u0306n  An,02/03/1985,Nam,Kinh,không\n"
        "048185000124,Trần Thị Bình,1985-07-09,Nữ,1,false\n",
        encoding="utf-8",
    )
    report = load(settings=clean, target="residents", path=path)
    assert (report.inserted, report.rejected) == (2, 0)
    rows = _query(clean, "SELECT full_name, birth_date::text, sex FROM residents ORDER BY 1")
    assert rows == [
        ("Nguyễn Văn An", "1985-03-02", "male"),
        ("Trần Thị Bình", "1985-07-09", "female"),
    ]


@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "viscii", "windows-1258"])
def test_legacy_encoded_exports_load_identical_to_utf8(
    clean: Settings, tmp_path: Path, encoding: str
) -> None:
    utf8 = _synth(tmp_path, name="utf8", residents=200)
    legacy = _synth(tmp_path, name=encoding, residents=200, encoding=encoding)
    assert (utf8 / "residents.csv").read_bytes() != (legacy / "residents.csv").read_bytes()
    load(settings=clean, target="residents", path=utf8 / "residents.csv")
    report = load(settings=clean, target="residents", path=legacy / "residents.csv")
    assert report.encoding == encoding
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 200)
    enterprises = load(settings=clean, target="enterprises", path=legacy / "enterprises.csv")
    assert enterprises.rejected == 0
    names = _query(clean, "SELECT name FROM enterprises ORDER BY 1 LIMIT 1")
    assert str(names[0][0]).startswith(("Công ty", "Doanh nghiệp"))


def test_a_vn2000_parcel_lands_where_its_wgs84_twin_does(clean: Settings, tmp_path: Path) -> None:
    wgs84 = _synth(tmp_path, name="wgs84", parcels=15)
    vn2000 = _synth(tmp_path, name="vn2000", parcels=15, parcel_crs="VN2000:da-nang")
    report = load(
        settings=clean, target="parcels", path=vn2000 / "parcels.geojson", crs="VN2000:da-nang"
    )
    assert (report.inserted, report.rejected) == (15, 0)
    assert report.crs is not None
    twins = json.loads((wgs84 / "parcels.geojson").read_text(encoding="utf-8"))["features"]
    stored = {
        (commune, number): geometry
        for commune, number, geometry in _query(
            clean, "SELECT commune_code, parcel_number, ST_AsGeoJSON(geom) FROM parcels"
        )
    }
    geod = Geod(ellps="WGS84")
    worst = 0.0
    for feature in twins:
        key = (feature["properties"]["commune_code"], feature["properties"]["parcel_number"])
        expected_ring = feature["geometry"]["coordinates"][0]
        stored_ring = json.loads(str(stored[key]))["coordinates"][0][0]
        for (lon1, lat1), (lon2, lat2) in zip(expected_ring, stored_ring, strict=True):
            worst = max(worst, geod.inv(lon1, lat1, lon2, lat2)[2])
    assert worst < 1.0


def test_enterprises_with_representatives_lines_and_their_changes(
    clean: Settings, tmp_path: Path
) -> None:
    people = _synth(tmp_path, residents=50, enterprises=0, parcels=0)
    load(settings=clean, target="residents", path=people / "residents.csv")
    ids = [row[0] for row in _query(clean, "SELECT personal_id FROM residents LIMIT 2")]
    path = tmp_path / "enterprises.csv"
    header = (
        "enterprise_code,name,enterprise_type,status,registered_on,charter_capital,"
        "head_office_commune_code,head_office_address_line,representatives,business_lines\n"
    )
    good = (
        f"0401234566,Công ty TNHH Sông Hàn,tnhh_1tv,active,01/06/2015,5000000000,20242,"
        f"45 Bạch Đằng,{ids[0]}:Giám đốc,62010*|46900\n"
    )
    path.write_text(header + good, encoding="utf-8")
    first = load(settings=clean, target="enterprises", path=path)
    assert (first.inserted, first.rejected) == (1, 0)
    path.write_text(
        header + good.replace(f"{ids[0]}:Giám đốc", f"{ids[1]}:Giám đốc"), encoding="utf-8"
    )
    second = load(settings=clean, target="enterprises", path=path)
    assert (second.inserted, second.updated, second.unchanged) == (0, 1, 0)
    current = _query(
        clean,
        "SELECT personal_id FROM enterprise_representatives "
        "WHERE enterprise_code = '0401234566' AND valid_to IS NULL",
    )
    assert current == [(ids[1],)]
    main = _query(
        clean,
        "SELECT vsic_code FROM enterprise_business_lines WHERE is_main AND valid_to IS NULL",
    )
    assert main == [("62010",)]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "0401234560,A,tnhh_1tv,active,2015-06-01,1,20242,x,{pid}:GĐ,62010*",
            "ENTERPRISE_CODE_CHECKSUM",
        ),
        ("0401234566,A,llc,active,2015-06-01,1,20242,x,{pid}:GĐ,62010*", "ENTERPRISE_TYPE_INVALID"),
        ("0401234566,A,tnhh_1tv,sleeping,2015-06-01,1,20242,x,{pid}:GĐ,62010*", "STATUS_INVALID"),
        ("0401234566,A,tnhh_1tv,active,2015-06-01,-5,20242,x,{pid}:GĐ,62010*", "CAPITAL_INVALID"),
        (
            "0401234566,A,tnhh_1tv,active,2015-06-01,1,20242,x,12345:GĐ,62010*",
            "REPRESENTATIVE_ID_INVALID",
        ),
        ("0401234566,A,tnhh_1tv,active,2015-06-01,1,20242,x,{pid}:GĐ,9999X*", "VSIC_UNKNOWN"),
        (
            "0401234566,A,tnhh_1tv,active,2015-06-01,1,20242,x,{pid}:GĐ,62010|46900",
            "MAIN_LINE_INVALID",
        ),
        ("0401234566,A,tnhh_1tv,active,2015-13-01,1,20242,x,{pid}:GĐ,62010*", "DATE_INVALID"),
    ],
)
def test_enterprise_defects_are_rejected_with_their_reason(
    clean: Settings, tmp_path: Path, row: str, reason: str
) -> None:
    path = tmp_path / "enterprises.csv"
    path.write_text(
        "enterprise_code,name,enterprise_type,status,registered_on,charter_capital,"
        "head_office_commune_code,head_office_address_line,representatives,business_lines\n"
        + row.format(pid="048085000123")
        + "\n",
        encoding="utf-8",
    )
    report = load(settings=clean, target="enterprises", path=path)
    assert report.rejected_by_reason == Counter({reason: 1})


def _parcel_feature(**properties: object) -> dict[str, object]:
    ring = [[108.208, 16.054], [108.2082, 16.054], [108.2082, 16.0542], [108.208, 16.0542],
            [108.208, 16.054]]  # fmt: skip
    base: dict[str, object] = {
        "commune_code": 20242, "map_sheet": 1, "parcel_number": 1, "declared_area": 473.2,
        "land_use_code": "ODT", "rights": "resident:048085000123:use_right:CS1",
    }  # fmt: skip
    base.update(properties)
    geometry = properties.pop("geometry", None) or {"type": "Polygon", "coordinates": [ring]}
    base.pop("geometry", None)
    return {"type": "Feature", "geometry": geometry, "properties": base}


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"declared_area": 900}, "AREA_MISMATCH"),
        ({"land_use_code": "XYZ"}, "LAND_USE_UNKNOWN"),
        ({"rights": "resident:12345:use_right:CS1"}, "HOLDER_ID_INVALID"),
        ({"commune_code": 99999}, "COMMUNE_UNKNOWN"),
        ({"geometry": {"type": "Point", "coordinates": [108.2, 16.0]}}, "GEOMETRY_TYPE"),
    ],
)
def test_parcel_defects_are_rejected_with_their_reason(
    clean: Settings, tmp_path: Path, properties: dict[str, object], reason: str
) -> None:
    path = tmp_path / "parcels.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [_parcel_feature(**properties)]}),
        encoding="utf-8",
    )
    report = load(settings=clean, target="parcels", path=path)
    assert report.rejected_by_reason == Counter({reason: 1})


def test_an_unknown_registry_is_refused(clean: Settings, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(LoadError, match="unknown registry 'people'"):
        load(settings=clean, target="people", path=path)


def test_a_merge_failing_after_the_residents_fails_the_whole_load(
    clean: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = pipeline.TARGETS["residents"]
    merged: list[int] = []

    def merge_then_fail(
        connection: psycopg.Connection[tuple[object, ...]], outbox: Outbox
    ) -> MergeCounts:
        merged.append(spec.merge(connection, outbox).inserted)
        connection.execute("SELECT 1 / 0")  # the server refuses what comes after
        return MergeCounts(0, 0, 0)

    monkeypatch.setitem(pipeline.TARGETS, "residents", replace(spec, merge=merge_then_fail))
    path = _synth(tmp_path) / "residents.csv"
    with pytest.raises(psycopg.errors.DivisionByZero):
        load(settings=clean, target="residents", path=path)
    assert merged == [300]  # merged, then rolled back with the rest of the load
    assert _query(clean, "SELECT count(*) FROM residents") == [(0,)]
    assert _query(clean, "SELECT status FROM etl_runs") == [("failed",)]


def test_csv_rows_short_long_and_blank(clean: Settings, tmp_path: Path) -> None:
    path = _synth(tmp_path) / "residents.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    short = ",".join(lines[1].split(",")[:5])  # a row cut after its fifth field
    path.write_text(
        "\n".join([lines[0], lines[1], "", lines[2] + ",surplus", short, lines[3]]) + "\n",
        encoding="utf-8",
    )
    report = load(settings=clean, target="residents", path=path)
    _assert_balanced(report)
    assert report.read == 4  # the blank line is not a row
    assert report.inserted == 2
    assert report.rejected_by_reason == Counter({"FIELD_COUNT": 2})
    assert report.rejects_path is not None
    with report.rejects_path.open(encoding="utf-8") as handle:
        rejected = {row["line_number"]: row for row in csv.DictReader(handle)}
    assert set(rejected) == {"4", "5"}
    assert rejected["4"]["message"] == "25 fields, the header has 24"
    assert json.loads(rejected["4"]["source_row"])["_extra_columns"] == ["surplus"]
    assert rejected["5"]["message"] == "5 fields, the header has 24"


def test_a_file_with_no_header_is_refused(clean: Settings, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(SourceError, match=r"empty\.csv: no header row"):
        load(settings=clean, target="residents", path=path)
    assert _query(clean, "SELECT status FROM etl_runs") == [("failed",)]


def test_json_lines_that_are_not_objects_are_rejected_as_such(
    clean: Settings, tmp_path: Path
) -> None:
    rows = list(csv.DictReader((_synth(tmp_path) / "residents.csv").open(encoding="utf-8")))
    path = tmp_path / "residents.jsonl"
    lines = [
        json.dumps(rows[0], ensure_ascii=False),
        "{not json",
        "[1, 2]",
        "",
        json.dumps(rows[1]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = load(settings=clean, target="residents", path=path)
    _assert_balanced(report)
    assert (report.read, report.inserted) == (4, 2)  # the blank line is not a record
    assert report.rejected_by_reason == Counter({"JSON_INVALID": 2})
    assert report.rejects_path is not None
    with report.rejects_path.open(encoding="utf-8") as handle:
        rejected = {row["line_number"]: row for row in csv.DictReader(handle)}
    assert json.loads(rejected["2"]["source_row"]) == {"_unparsed": "{not json"}
    assert rejected["3"]["message"] == "a JSON list, not an object"


def _rewrite(path: Path, change: Callable[[int, dict[str, str]], None], extra: list[str]) -> None:
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for number, row in enumerate(rows):
        change(number, row)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*rows[0], *extra], restval="")
        writer.writeheader()
        writer.writerows(rows)


# Rows of registries/data/commune-crosswalk-2025.csv: Phường Quán Thánh (00013) went wholly into
# Phường Ba Đình (00004); Phường Ngọc Hà (00016) was split between 00004 and 00008; Phường
# Thụy Khuê (00112) was split, its whole population going to Phường Tây Hồ (00103).
FORMER = "permanent_commune_code_before_2025"


def test_an_export_with_pre_2025_communes_loads_converted_keeping_the_original(
    clean: Settings, tmp_path: Path
) -> None:
    path = _synth(tmp_path) / "residents.csv"
    written = {0: "00013", 1: "Phường Quán Thánh, Quận Ba Đình, Thành phố Hà Nội", 2: "00112",
               3: "00016", 4: "00016", 5: "99999", 6: "1x3"}  # fmt: skip
    ids: dict[int, str] = {}

    def to_former(number: int, row: dict[str, str]) -> None:
        if number in written:
            ids[number] = row["personal_id"]
            row[FORMER] = written[number]
            row["permanent_commune_code"] = "8" if number == 4 else ""

    _rewrite(path, to_former, [FORMER])
    report = load(settings=clean, target="residents", path=path)
    _assert_balanced(report)
    assert report.rejected_by_reason == Counter(
        {"COMMUNE_SPLIT": 1, "COMMUNE_FORMER_UNKNOWN": 1, "COMMUNE_FORMER_INVALID": 1}
    )
    assert report.inserted == 300 - 3
    stored = {
        personal_id: (commune, provenance)
        for personal_id, commune, provenance in _query(
            clean,
            "SELECT personal_id, permanent_commune_code, provenance FROM residents "
            "WHERE personal_id = ANY(%s)",
            list(ids.values()),
        )
    }
    expected = {
        0: (4, 13, "00013", "single"),
        1: (4, 13, written[1], "single"),
        2: (103, 112, "00112", "population"),
        4: (8, 16, "00016", "given"),
    }
    for number, (code, former, as_written, rule) in expected.items():
        commune, provenance = stored[ids[number]]
        assert commune == code
        assert provenance == {
            "former_units": {
                "permanent_commune_code": {"code": former, "as_written": as_written, "rule": rule}
            }
        }
    assert ids[3] not in stored  # split with no 2025 code: rejected, its reason names the parts
    with report.rejects_path.open(encoding="utf-8") as handle:  # type: ignore[union-attr]
        split = next(r for r in csv.DictReader(handle) if r["reason_code"] == "COMMUNE_SPLIT")
    assert "00004, 00008" in split["message"]
    # a household's address is its head's: loaded from a former commune, it says so too
    heads = _query(
        clean,
        "SELECT h.provenance, r.provenance -> 'former_units' -> 'permanent_commune_code' "
        "FROM households h JOIN residents r ON r.personal_id = h.head_id "
        "WHERE r.provenance IS NOT NULL",
    )
    for household, head in heads:
        assert household == {"former_units": {"commune_code": head}}
    again = load(settings=clean, target="residents", path=path)
    assert (again.inserted, again.updated) == (0, 0)  # the same export changes nothing


async def test_addresses_and_units_show_their_former_form(
    clean: Settings, tmp_path: Path, session: AsyncSession
) -> None:
    reference = ReferenceCache()
    await reference.load(session=session)
    former = {"code": 112, "as_written": "00112", "rule": "population"}
    shown = address(reference, 103, "Số 1 Thụy Khuê", former)
    assert shown is not None
    form = shown.former()
    assert form is not None
    assert (form.commune_name, form.district_name) == ("Phường Thụy Khuê", "Quận Tây Hồ")
    assert form.full_address() == "Số 1 Thụy Khuê, Phường Thụy Khuê, Quận Tây Hồ, Thành phố Hà Nội"
    assert (form.effective_on, form.conversion) == (date(2025, 7, 1), "population")
    assert apply_mask("province_only", shown).former() is None  # dropped with the commune
    assert address(reference, 103, "Số 1", None).former() is None  # type: ignore[union-attr]
    ba_dinh = _former_units_of_commune(4, reference)
    quan_thanh = next(unit for unit in ba_dinh if unit.code == "00013")
    assert (quan_thanh.name, quan_thanh.whole, quan_thanh.note) == (
        "Phường Quán Thánh",
        True,
        "Nhập toàn bộ",
    )
    ngoc_ha = next(unit for unit in ba_dinh if unit.code == "00016")
    assert (ngoc_ha.whole, ngoc_ha.district_name) == (False, "Quận Ba Đình")
    # Đà Nẵng (48) took in Quảng Nam (49) and the former Đà Nẵng, wholly
    da_nang = _province(reference.provinces[48], reference)
    assert {(u.code, u.whole) for u in da_nang.former_units} == {("48", True), ("49", True)}


def test_an_unknown_vsic_code_loads_flagged(clean: Settings, tmp_path: Path) -> None:
    path = tmp_path / "enterprises.csv"
    path.write_text(
        "enterprise_code,name,enterprise_type,status,registered_on,charter_capital,"
        "head_office_commune_code_before_2025,head_office_address_line,representatives,"
        "business_lines\n"
        "0401234566,Công ty TNHH Sông Hàn,tnhh_1tv,active,2015-06-01,1,00013,45 Bạch Đằng,"
        "048085000123:GĐ,62010*|99999\n",
        encoding="utf-8",
    )
    report = load(settings=clean, target="enterprises", path=path)
    assert (report.inserted, report.rejected) == (1, 0)
    assert report.warned_by_reason == Counter({"VSIC_UNCHECKED": 1})
    assert _query(clean, "SELECT head_office_commune_code, provenance FROM enterprises") == [
        (
            4,
            {
                "former_units": {
                    "head_office_commune_code": {
                        "code": 13,
                        "as_written": "00013",
                        "rule": "single",
                    }
                },
                "unchecked": {"business_lines": ["99999"]},
            },
        )
    ]
    lines = _query(clean, "SELECT vsic_code, is_main FROM enterprise_business_lines")
    assert lines == [("62010", True)]
