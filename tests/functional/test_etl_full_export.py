"""Full exports: the records of the export's own province it no longer holds are closed and
reported; other provinces are untouched; beyond the configured share, or blind to what a
rejected row held, the load stops (exit 4) unless forced; a rollback reopens what it closed."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from etl.closures import ClosuresRefused
from etl.pipeline import FullExport, LoadError, load
from etl.rollback import rollback
from lienthong.settings import Settings
from tests.factories import new_enterprise_code
from tests.functional.loads import BA_DINH, empty, person, query, resident, write
from tests.net import LIENTHONG

DA_NANG, HA_NOI = 48, 1


@pytest.fixture
def clean(settings: Settings) -> Iterator[Settings]:
    yield settings
    empty(settings)


def _province(count: int, commune: int, *, households: bool = False) -> list[dict[str, str]]:
    """`count` residents of one commune; with `households`, each the head of their own."""
    rows = []
    for n in range(count):
        pid = person(date(1980, 1, 1))
        row = resident(pid, date(1980, 1, 1), permanent_commune_code=commune)
        if households:
            row.update(household_id=f"48{pid[2:]}", relationship_to_head="head")
        rows.append(row)
        rows[-1]["full_name"] = f"Nguyễn Văn {n}"
    return rows


def _current(settings: Settings, table: str, key: str) -> set[str]:
    rows = query(settings, f"SELECT {key} FROM {table} WHERE valid_to IS NULL")  # noqa: S608
    return {str(value) for (value,) in rows}


def test_a_full_export_without_a_record_closes_it_and_the_report_says_so(
    clean: Settings, tmp_path: Path
) -> None:
    da_nang, ha_noi = _province(40, 20242, households=True), _province(5, BA_DINH)
    load(settings=clean, target="residents", path=write(tmp_path / "all.csv", da_nang + ha_noi))
    gone = da_nang[7]["personal_id"]
    path = write(tmp_path / "da-nang.csv", [r for r in da_nang if r["personal_id"] != gone])
    report = load(settings=clean, target="residents", path=path,
                  full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert report.balanced and (report.inserted, report.updated) == (0, 0)
    closures = report.closures
    assert closures is not None
    assert closures.closing == {"residents": [gone], "households": [f"48{gone[2:]}"]}
    assert (closures.in_scope, closures.share) == (40, 1 / 40)
    assert not report.changed_nothing
    assert gone not in _current(clean, "residents", "personal_id")
    assert {r["personal_id"] for r in ha_noi} <= _current(clean, "residents", "personal_id")
    run = query(
        clean,
        "SELECT status, closed, full_export ->> 'scope', full_export -> 'closing' FROM etl_runs "
        "WHERE run_id = %s",
        report.run_id,
    )
    assert run == [
        ("done", 2, "province 48 (Thành phố Đà Nẵng)", {"residents": 1, "households": 1})
    ]
    assert query(
        clean, "SELECT registry, record_key FROM etl_closures WHERE run_id = %s ORDER BY 1",
        report.run_id,
    ) == [("households", f"48{gone[2:]}"), ("residents", gone)]  # fmt: skip
    assert report.closures_path is not None
    with report.closures_path.open(encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["registry", "record_key"], ["residents", gone], ["households", f"48{gone[2:]}"],
        ]  # fmt: skip
    # the same full export again closes nothing more
    again = load(settings=clean, target="residents", path=path,
                 full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert again.closures is not None and again.closures.count == 0 and again.changed_nothing
    assert again.closures_path is None and not Path(f"{path}.closed.csv").exists()


def test_a_rollback_reopens_what_a_full_export_closed(clean: Settings, tmp_path: Path) -> None:
    rows = _province(30, 20242, households=True)
    load(settings=clean, target="residents", path=write(tmp_path / "all.csv", rows))
    path = write(tmp_path / "less.csv", rows[1:])
    report = load(settings=clean, target="residents", path=path,
                  full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert report.closures is not None and report.closures.count == 2
    rollback(settings=clean, run_id=report.run_id)
    assert rows[0]["personal_id"] in _current(clean, "residents", "personal_id")
    assert f"48{rows[0]['personal_id'][2:]}" in _current(clean, "households", "household_id")


def test_a_full_export_of_one_province_closes_nothing_in_another(
    clean: Settings, tmp_path: Path
) -> None:
    da_nang, ha_noi = _province(20, 20242), _province(20, BA_DINH)
    load(settings=clean, target="residents", path=write(tmp_path / "all.csv", da_nang + ha_noi))
    ha_noi[3]["full_name"] = "Trần Thị Mai"  # and a change, merged as any load's
    report = load(settings=clean, target="residents", path=write(tmp_path / "hn.csv", ha_noi),
                  full_export=FullExport(province=HA_NOI))  # fmt: skip
    assert report.closures is not None
    assert (report.closures.count, report.closures.in_scope, report.updated) == (0, 20, 1)
    assert _current(clean, "residents", "personal_id") == {
        r["personal_id"] for r in da_nang + ha_noi
    }
    assert query(clean, "SELECT closed FROM etl_runs WHERE run_id = %s", report.run_id) == [(0,)]
    # an agency's export of the whole registry: Hà Nội's alone would close all of Đà Nẵng
    with pytest.raises(ClosuresRefused, match="20 of the 40 residents of the whole registry"):
        load(settings=clean, target="residents", path=write(tmp_path / "hn.csv", ha_noi),
             full_export=FullExport(province=None))  # fmt: skip


def test_a_full_export_closing_more_than_the_limit_stops_unless_forced(
    clean: Settings, tmp_path: Path
) -> None:
    rows = _province(40, 20242)
    load(settings=clean, target="residents", path=write(tmp_path / "all.csv", rows))
    kept = rows[:37]
    kept[0]["full_name"] = "Trần Thị Mai"
    path = write(tmp_path / "part.csv", kept)  # 3 of 40 missing: 7.5 % > 5 %
    with pytest.raises(ClosuresRefused) as refused:
        load(settings=clean, target="residents", path=path,
             full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert str(refused.value) == (
        "it would close 3 of the 40 residents of province 48 (Thành phố Đà Nẵng) (7.5%), more "
        "than LIENTHONG_FULL_EXPORT_MAX_CLOSE_SHARE (5.0%)"
    )
    assert len(_current(clean, "residents", "personal_id")) == 40  # nothing merged
    assert query(clean, "SELECT full_name FROM residents WHERE personal_id = %s",
                 kept[0]["personal_id"]) == [("Nguyễn Văn 0",)]  # fmt: skip
    run = query(
        clean,
        "SELECT status, closed, full_export -> 'closing', (full_export ->> 'stopped')::bool "
        "FROM etl_runs ORDER BY run_id DESC LIMIT 1",
    )
    assert run == [("refused", 0, {"residents": 3, "households": 0}, True)]
    # a higher limit, as the setting says, lets it through; so does --force
    wider = clean.model_copy(update={"full_export_max_close_share": 0.1})
    dry = load(settings=wider, target="residents", path=path, dry_run=True,
               full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert dry.closures is not None and dry.closures.count == 3
    assert len(_current(clean, "residents", "personal_id")) == 40  # a dry run closes nothing
    forced = load(settings=clean, target="residents", path=path,
                  full_export=FullExport(province=DA_NANG, force=True))  # fmt: skip
    assert forced.closures is not None and forced.closures.forced
    assert len(_current(clean, "residents", "personal_id")) == 37


def test_a_rejected_row_keeps_its_record_and_an_unreadable_one_stops_the_closures(
    clean: Settings, tmp_path: Path
) -> None:
    rows = _province(40, 20242)
    load(settings=clean, target="residents", path=write(tmp_path / "all.csv", rows))
    rows[5]["ethnicity"] = "Atlantis"  # rejected, but its record is still in the export
    gone = rows.pop(9)["personal_id"]
    report = load(settings=clean, target="residents", path=write(tmp_path / "a.csv", rows),
                  full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert report.rejected_by_reason == {"ETHNICITY_UNKNOWN": 1}
    assert report.closures is not None and report.closures.closing["residents"] == [gone]
    assert rows[5]["personal_id"] in _current(clean, "residents", "personal_id")
    # a row whose personal ID is garbled may be any record: closing anything then stops
    rows[5]["ethnicity"] = "Kinh"
    rows[6]["personal_id"] = rows[6]["personal_id"][:11]
    gone = rows.pop(20)["personal_id"]
    path = write(tmp_path / "b.csv", rows)
    with pytest.raises(ClosuresRefused, match="1 rejected row\\(s\\) have no key"):
        load(settings=clean, target="residents", path=path,
             full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert gone in _current(clean, "residents", "personal_id")


def test_a_full_export_of_an_unknown_province_is_refused(clean: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", _province(2, 20242))
    with pytest.raises(LoadError, match="no province 99 in the 2025 list"):
        load(settings=clean, target="residents", path=path, full_export=FullExport(province=99))
    assert query(clean, "SELECT count(*) FROM residents") == [(0,)]


def _cli(
    settings: Settings, *args: str, registry: str = "residents", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LIENTHONG), "etl", "load", registry, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LIENTHONG_DATABASE_URL": settings.libpq_url, "COLUMNS": "160",
             **env},
    )  # fmt: skip


def test_the_command_reports_closures_and_stops_with_exit_code_4(
    clean: Settings, tmp_path: Path
) -> None:
    rows = _province(40, 20242)
    load(settings=clean, target="residents", path=write(tmp_path / "all.csv", rows))
    path = str(write(tmp_path / "part.csv", rows[:36]))
    stopped = _cli(clean, path, "--full-export", "--province", "48")
    assert stopped.returncode == 4, stopped.stderr
    assert "load stopped:" in stopped.stderr
    assert "would close 4 of the 40 residents" in stopped.stderr
    assert "--force" in stopped.stderr
    assert f"{path}.closed.csv" in " ".join(stopped.stderr.split())
    passed = _cli(clean, path, "--full-export", "--province", "48",
                  LIENTHONG_FULL_EXPORT_MAX_CLOSE_SHARE="0.2")  # fmt: skip
    assert passed.returncode == 0, passed.stderr
    assert "Full export of province 48 (Thành phố Đà Nẵng): 4 of 40 residents" in passed.stderr
    for row in rows[36:]:
        assert row["personal_id"] in passed.stderr
    for args, message in (
        (("--province", "48"), "are for a full export: add --full-export"),
        (("--full-export",), "--province CODE (2025 code) or --nationwide, one of them"),
        (("--full-export", "--province", "48", "--nationwide"), "one of them"),
        (("--full-export", "--province", "99"), "no province 99"),
    ):
        refused = _cli(clean, path, *args)
        assert refused.returncode == 2, args
        assert message in " ".join(refused.stderr.split()), args
    policy = _cli(clean, path, "--full-export", "--nationwide", registry="agreements")
    assert policy.returncode == 2
    assert "--full-export and its options are for registries" in " ".join(policy.stderr.split())


@pytest.fixture
def with_others(clean: Settings) -> Iterator[Settings]:
    """`clean`, and the enterprises' and parcels' registries emptied after the test too."""
    yield clean
    with psycopg.connect(clean.libpq_url, autocommit=True) as connection:
        connection.execute("TRUNCATE enterprises, enterprise_representatives, "
                           "enterprise_business_lines, parcels, parcel_rights")  # fmt: skip


ENTERPRISE_HEADER = (
    "enterprise_code,name,enterprise_type,status,registered_on,charter_capital,"
    "head_office_commune_code,head_office_address_line,representatives,business_lines\n"
)


def _enterprises(communes: list[int]) -> list[str]:
    """One enterprise per commune given, each with a representative and a business line."""
    return [
        f"{new_enterprise_code()},Công ty TNHH Số {n},tnhh_1tv,active,2015-06-01,5000000000,"
        f"{commune},{n} Bạch Đằng,{person(date(1980, 1, 1))}:Giám đốc,62010*\n"
        for n, commune in enumerate(communes)
    ]


def test_an_enterprises_full_export_closes_its_province_s_missing_ones_only(
    with_others: Settings, tmp_path: Path
) -> None:
    da_nang, ha_noi = _enterprises([20242] * 3), _enterprises([BA_DINH] * 2)
    path = tmp_path / "enterprises.csv"
    path.write_text(ENTERPRISE_HEADER + "".join(da_nang + ha_noi), encoding="utf-8")
    load(settings=with_others, target="enterprises", path=path)
    gone = da_nang[1].split(",", 1)[0]
    path.write_text(ENTERPRISE_HEADER + da_nang[0] + da_nang[2], encoding="utf-8")
    with pytest.raises(ClosuresRefused, match="1 of the 3 enterprises of province 48"):
        load(settings=with_others, target="enterprises", path=path,
             full_export=FullExport(province=DA_NANG))  # fmt: skip
    wider = with_others.model_copy(update={"full_export_max_close_share": 0.5})
    report = load(settings=wider, target="enterprises", path=path,
                  full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert report.closures is not None
    assert report.closures.closing == {"enterprises": [gone]}
    assert _current(with_others, "enterprises", "enterprise_code") == {
        line.split(",", 1)[0] for line in (da_nang[0], da_nang[2], *ha_noi)
    }
    # its representatives and business lines are closed with it
    for table in ("enterprise_representatives", "enterprise_business_lines"):
        assert gone not in _current(with_others, table, "enterprise_code")


def _parcel(commune: int, number: int, lon: float, lat: float) -> dict[str, object]:
    ring = [[lon, lat], [lon + 0.0002, lat], [lon + 0.0002, lat + 0.0002], [lon, lat + 0.0002],
            [lon, lat]]  # fmt: skip
    return {
        "type": "Feature",
        "properties": {"commune_code": commune, "map_sheet": 1, "parcel_number": number,
                       "declared_area": 473.2, "land_use_code": "ODT", "rights": ""},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }  # fmt: skip


def test_a_parcels_full_export_closes_its_province_s_missing_ones_only(
    with_others: Settings, tmp_path: Path
) -> None:
    da_nang = [_parcel(20242, n, 108.208 + n * 0.001, 16.054) for n in range(1, 5)]
    ha_noi = [_parcel(BA_DINH, n, 105.84 + n * 0.001, 21.03) for n in range(1, 3)]
    path = tmp_path / "parcels.geojson"
    collection = {"type": "FeatureCollection"}
    path.write_text(json.dumps({**collection, "features": da_nang + ha_noi}), "utf-8")
    load(settings=with_others, target="parcels", path=path)
    ids = dict(query(with_others, "SELECT parcel_number::text || '@' || commune_code::text, "
                                  "parcel_id FROM parcels"))  # fmt: skip
    path.write_text(json.dumps({**collection, "features": da_nang[1:]}), "utf-8")
    wider = with_others.model_copy(update={"full_export_max_close_share": 0.5})
    report = load(settings=wider, target="parcels", path=path,
                  full_export=FullExport(province=DA_NANG))  # fmt: skip
    assert report.closures is not None and report.closures.count == 1
    assert _current(with_others, "parcels", "parcel_id") == set(map(str, ids.values())) - {
        str(ids["1@20242"])
    }
