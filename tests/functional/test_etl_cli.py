"""`lienthong etl synth` and `etl load` as a user runs them: output, files and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from etl.report import BULK_MERGE_LINE
from lienthong.settings import Settings
from tests.net import LIENTHONG


@pytest.fixture
def env(settings: Settings) -> Iterator[dict[str, str]]:
    yield {**os.environ, "LIENTHONG_DATABASE_URL": settings.libpq_url, "COLUMNS": "120"}
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        connection.execute(
            "TRUNCATE residents, households, enterprises, enterprise_representatives, "
            "enterprise_business_lines, parcels, parcel_rights, etl_rejects, etl_closures, etl_runs"
        )


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LIENTHONG), "etl", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_synth_then_load_all_three_registries(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "sample"
    synth = _run(
        env, "synth", "--out", str(out), "--residents", "400", "--enterprises", "30",
        "--parcels", "40", "--seed", "5", "--defects", "0.05",
    )  # fmt: skip
    assert synth.returncode == 0, synth.stderr
    assert "wrote 400 residents, 30 enterprises, 40 parcels" in synth.stderr
    again = tmp_path / "again"
    _run(env, "synth", "--out", str(again), "--residents", "400", "--enterprises", "30",
         "--parcels", "40", "--seed", "5", "--defects", "0.05")  # fmt: skip
    for name in ("residents.csv", "enterprises.csv", "parcels.geojson"):
        assert (out / name).read_bytes() == (again / name).read_bytes()  # deterministic
    for registry, name in (
        ("residents", "residents.csv"),
        ("enterprises", "enterprises.csv"),
        ("parcels", "parcels.geojson"),
    ):
        result = _run(env, "load", registry, str(out / name))
        assert result.returncode == 0, result.stderr
        assert "balanced" in result.stderr
        assert "NOT BALANCED" not in result.stderr
        assert BULK_MERGE_LINE not in result.stderr  # small loads keep the normal path
    second = _run(env, "load", "--bulk", "residents", str(out / "residents.csv"))
    assert second.returncode == 0, second.stderr
    assert BULK_MERGE_LINE in second.stderr
    assert "Nothing changed" in second.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("load", "people", "x.csv"), "unknown registry 'people'"),
        (("load", "residents", "missing.csv"), "no such file"),
        (("load", "residents", "data.xlsx"), "unknown format '.xlsx'"),
        (("load", "parcels", "p.geojson", "--crs", "VN2000:atlantis"), "unknown province"),
        (("load", "residents", "r.csv", "--encoding", "koi8-r"), "unknown encoding"),
    ],
)
def test_bad_invocations_say_what_is_wrong(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    for name in ("x.csv", "data.xlsx", "r.csv"):
        (tmp_path / name).write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "p.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    result = subprocess.run(
        [str(LIENTHONG), "etl", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_load_the_sample_agreements_twice(env: dict[str, str], tmp_path: Path) -> None:
    """The first load of an empty store is in force and warns; a later one approves nothing."""
    sample = Path(__file__).resolve().parents[2] / "infra" / "sample" / "policy.json"
    url = env["LIENTHONG_DATABASE_URL"]
    try:
        first = _run(env, "load", "agreements", str(sample))
        assert first.returncode == 0, first.stderr
        assert "WARNING: first bootstrap of an empty policy store" in " ".join(first.stderr.split())
        assert "18 record(s) changed" in first.stderr
        second = _run(env, "load", "agreements", str(sample))
        assert "0 record(s) changed" in second.stderr
        assert "WARNING" not in second.stderr

        document = json.loads(sample.read_text(encoding="utf-8"))
        document["agreements"][0]["fields"].append("religion")
        changed = tmp_path / "policy.json"
        changed.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        third = _run(env, "load", "agreements", str(changed))
        assert third.returncode == 0, third.stderr
        said = " ".join(third.stderr.split())
        assert "WARNING" not in said
        assert "1 agreement(s) submitted, awaiting approval" in said
        assert "motcua-danang/CT01/Resident" in said
        with psycopg.connect(url) as connection:
            status = connection.execute(
                "SELECT status, approved_by FROM agreements "
                "WHERE agreement_id = 'motcua-danang/CT01/Resident' AND valid_to IS NULL"
            ).fetchone()
        assert status == ("submitted", None)
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("TRUNCATE agencies, purposes, agreements, consents, proposals")
