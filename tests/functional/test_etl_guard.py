"""A bad export must not rewrite the registries: the change-rate guard, the suspicious-text
rejects, `--dry-run` and `etl rollback`, against the real database (the module's own)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from etl.guard import ChangesRefused, damage, mixed_encoding
from etl.pipeline import load
from etl.rollback import rollback
from etl.synth import SynthOptions, synthesize
from lienthong.cli import app
from lienthong.settings import Settings
from registries.rollback import RollbackRefused

REGISTRY_TABLES = (
    "residents, households, enterprises, enterprise_representatives, "
    "enterprise_business_lines, enterprise_owners, parcels, parcel_rights, "
    "parcel_restrictions, etl_rejects, etl_closures, etl_runs"
)
# What a converter to a Western code page does with the Vietnamese letters it cannot encode
DROPPED = {c for c in map(chr, range(0x80, 0x2000)) if c.isalpha() and not c.encode(
    "cp1252", errors="ignore"
)}  # fmt: skip


@pytest.fixture(scope="module")
def module_settings(committed_database_url: str) -> Settings:
    return Settings(database_url=committed_database_url)


@pytest.fixture
def clean(module_settings: Settings) -> Iterator[Settings]:
    yield module_settings
    with psycopg.connect(module_settings.libpq_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {REGISTRY_TABLES}")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("guard-sample")
    synthesize(SynthOptions(residents=2000, enterprises=0, parcels=0, out=out, seed=3))
    return out / "residents.csv"


def _rewrite(source: Path, target: Path, change: Callable[[int, dict[str, str]], None]) -> Path:
    with source.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    for number, record in enumerate(records):
        change(number, record)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return target


def _broken_converter(number: int, record: dict[str, str]) -> None:
    for name in ("full_name", "permanent_address_line", "hometown", "place_of_birth"):
        if record.get(name):
            record[name] = "".join(c for c in record[name] if c not in DROPPED)


def _current(settings: Settings) -> list[tuple[object, ...]]:
    """Every current resident and household, without the history bookkeeping."""
    with psycopg.connect(settings.libpq_url) as connection:
        residents = connection.execute(
            "SELECT personal_id, full_name, birth_date, permanent_address_line, household_id "
            "FROM residents WHERE valid_to IS NULL ORDER BY personal_id"
        ).fetchall()
        households = connection.execute(
            "SELECT household_id, head_id, address_line FROM households WHERE valid_to IS NULL "
            "ORDER BY household_id"
        ).fetchall()
    return [*residents, *households]


def _versions(settings: Settings) -> tuple[object, ...]:
    with psycopg.connect(settings.libpq_url) as connection:
        row = connection.execute(
            "SELECT (SELECT count(*) FROM residents), (SELECT max(version_id) FROM residents), "
            "(SELECT count(*) FROM households), (SELECT max(version_id) FROM households)"
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_the_damaged_re_export_is_stopped_with_its_fields_and_samples_named(
    clean: Settings, sample: Path, tmp_path: Path
) -> None:
    load(settings=clean, target="residents", path=sample)
    before = _current(clean)
    damaged = _rewrite(sample, tmp_path / "damaged.csv", _broken_converter)
    with pytest.raises(ChangesRefused) as stopped:
        load(settings=clean, target="residents", path=damaged)
    guard = stopped.value.report
    assert "full_name" in guard.over and "updated" in guard.over
    names = next(f for f in guard.fields if f.name == "full_name")
    assert names.share > 0.2 and names.samples
    _, was, now = names.samples[0]
    assert damage(str(was), now) == (
        "TEXT_LOST_LETTERS", "loses Vietnamese letters (a strict subsequence of the current)"
    )  # fmt: skip
    assert _current(clean) == before  # nothing merged
    with psycopg.connect(clean.libpq_url) as connection:
        status, figures = connection.execute(
            "SELECT status, guard FROM etl_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone() or (None, None)
    assert status == "refused" and "full_name" in figures["over"]
    # accepted, the load merges; the damaged values are still rejected, one by one
    accepted = load(settings=clean, target="residents", path=damaged, accept_changes=True)
    assert accepted.balanced and accepted.guard is not None and accepted.guard.accepted
    assert accepted.rejected_by_reason["TEXT_LOST_LETTERS"] > 500
    assert _current(clean) == before


def test_a_name_that_loses_letters_is_rejected_even_in_a_small_load(
    clean: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "small"
    synthesize(SynthOptions(residents=20, enterprises=0, parcels=0, out=out, seed=5))
    load(settings=clean, target="residents", path=out / "residents.csv")

    def spoil(number: int, record: dict[str, str]) -> None:
        if number == 0:
            record["full_name"] = "".join(c for c in record["full_name"] if c not in DROPPED)
        if number == 1:
            record["full_name"] = "".join("?" if c in DROPPED else c for c in record["full_name"])
        if number == 2:
            record["full_name"] = record["full_name"].encode("utf-8").decode("cp1252", "replace")
        if number == 3:
            record["full_name"] += " Anh"  # a real change: merged

    spoiled = _rewrite(out / "residents.csv", tmp_path / "spoiled.csv", spoil)
    report = load(settings=clean, target="residents", path=spoiled)
    assert dict(report.rejected_by_reason) == {
        "TEXT_LOST_LETTERS": 1, "TEXT_REPLACEMENT_CHAR": 1, "ENCODING_MIXED": 1
    }  # fmt: skip
    assert report.updated == 1
    assert report.guard is not None and not report.guard.applies  # 20 records: no shares


def test_a_dry_run_changes_nothing_and_says_what_the_load_would_do(
    clean: Settings, sample: Path, tmp_path: Path
) -> None:
    first = load(settings=clean, target="residents", path=sample, dry_run=True)
    assert first.dry_run and first.inserted == 2000
    assert _versions(clean) == (0, None, 0, None)
    load(settings=clean, target="residents", path=sample)
    versions = _versions(clean)
    moved = _rewrite(sample, tmp_path / "moved.csv", _moves(40))
    preview = load(settings=clean, target="residents", path=moved, dry_run=True)
    assert (preview.inserted, preview.updated) == (0, 40)
    assert preview.guard is not None and preview.guard.updated == 40
    assert _versions(clean) == versions
    with psycopg.connect(clean.libpq_url) as connection:
        statuses = [s for (s,) in connection.execute("SELECT status FROM etl_runs ORDER BY run_id")]
    assert statuses == ["dry-run", "done", "dry-run"]


def _moves(count: int, *, suffix: str = "moved") -> Callable[[int, dict[str, str]], None]:
    def move(number: int, record: dict[str, str]) -> None:
        if number < count:
            record["permanent_address_line"] = f"Số {number} đường {suffix}"

    return move


def test_a_rollback_restores_the_previous_versions_and_keeps_the_history(
    clean: Settings, sample: Path, tmp_path: Path
) -> None:
    load(settings=clean, target="residents", path=sample)
    before = _current(clean)
    moved = load(settings=clean, target="residents", path=_rewrite(
        sample, tmp_path / "moved.csv", _moves(30)
    ))  # fmt: skip
    assert moved.updated == 30 and _current(clean) != before
    undone = rollback(settings=clean, run_id=moved.run_id, actor="steward-lan")
    assert (undone.closed, undone.reopened) >= (30, 30)
    assert _current(clean) == before
    with psycopg.connect(clean.libpq_url) as connection:
        history = connection.execute(
            "SELECT count(*) FROM residents WHERE valid_to IS NOT NULL"
        ).fetchone()
        run = connection.execute(
            "SELECT status, rollback_of, actor, inserted, updated FROM etl_runs WHERE run_id = %s",
            (undone.run_id,),
        ).fetchone()
        marked = connection.execute(
            "SELECT rolled_back_by FROM etl_runs WHERE run_id = %s", (moved.run_id,)
        ).fetchone()
    assert history == (60,)  # the 30 the load closed and the 30 it opened, all kept
    assert run == ("rollback", moved.run_id, "steward-lan", undone.reopened, undone.closed)
    assert marked == (undone.run_id,)
    with pytest.raises(RollbackRefused, match="already rolled back"):
        rollback(settings=clean, run_id=moved.run_id)


def test_a_rollback_over_a_later_load_of_the_same_records_is_refused(
    clean: Settings, sample: Path, tmp_path: Path
) -> None:
    load(settings=clean, target="residents", path=sample)
    before = _current(clean)
    first = load(settings=clean, target="residents",
                 path=_rewrite(sample, tmp_path / "a.csv", _moves(20, suffix="A")))  # fmt: skip
    after_first = _current(clean)
    second = load(settings=clean, target="residents",
                  path=_rewrite(sample, tmp_path / "b.csv", _moves(10, suffix="B")))  # fmt: skip
    with pytest.raises(RollbackRefused, match="changed since"):
        rollback(settings=clean, run_id=first.run_id)
    rollback(settings=clean, run_id=second.run_id)  # the latest change can be undone
    assert _current(clean) == after_first
    # that rollback is new history over the first load's records: the first load stays
    with pytest.raises(RollbackRefused, match="changed since"):
        rollback(settings=clean, run_id=first.run_id)
    assert _current(clean) == after_first != before
    with pytest.raises(RollbackRefused, match="no load run"):
        rollback(settings=clean, run_id=999_999)


def test_a_legitimate_load_of_moves_and_name_changes_passes_untouched(
    clean: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "big"
    synthesize(SynthOptions(residents=20_000, enterprises=0, parcels=0, out=out, seed=9))
    load(settings=clean, target="residents", path=out / "residents.csv")

    def life(number: int, record: dict[str, str]) -> None:
        if number % 50 == 0:  # 400 moves
            record["permanent_address_line"] = f"Số {number} đường Lê Lợi"
        if number % 97 == 0:  # about 200 new names (marriage, correction)
            record["full_name"] = f"{record['full_name']} Ngọc"

    report = load(settings=clean, target="residents",
                  path=_rewrite(out / "residents.csv", tmp_path / "life.csv", life))  # fmt: skip
    assert report.guard is not None and report.guard.applies and report.guard.over == []
    assert report.rejected == 0 and report.updated > 500


def test_the_checks_name_what_they_catch() -> None:
    assert damage("Nguyễn Văn Việt", "Nguyn Vn Vit")[0] == "TEXT_LOST_LETTERS"  # type: ignore[index]
    assert damage("Nguyễn Văn An", "Nguyễn An") is None  # a dropped middle name is a real change
    assert damage("Lê Thị Hoa", "L\ufffd Th\ufffd Hoa")[0] == "TEXT_REPLACEMENT_CHAR"  # type: ignore[index]
    assert damage("Lê Thị Hoa", "Lê Thị Hoa Mai") is None
    assert mixed_encoding("Nguyá»…n") and not mixed_encoding("Nguyễn Thị Ánh")


def test_the_cli_stops_with_exit_3_and_the_samples(
    clean: Settings, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", clean.database_url)
    runner = CliRunner()
    assert runner.invoke(app, ["etl", "load", "residents", str(sample)]).exit_code == 0
    damaged = _rewrite(sample, tmp_path / "damaged.csv", _broken_converter)
    stopped = runner.invoke(app, ["etl", "load", "residents", str(damaged)])
    assert stopped.exit_code == 3, stopped.output
    assert "load stopped" in stopped.output and "full_name" in stopped.output
    assert "→" in stopped.output and "--accept-changes" in stopped.output
    bad = runner.invoke(app, ["etl", "load", "residents", str(damaged),
                              "--max-field-share", "full_name=2"])  # fmt: skip
    assert bad.exit_code == 2 and "FIELD=SHARE" in bad.output
    moved = _rewrite(sample, tmp_path / "moved.csv", _moves(5))
    loaded = runner.invoke(app, ["etl", "load", "residents", str(moved)])
    assert loaded.exit_code == 0, loaded.output
    run_id = loaded.output.split("Load #")[1].split(":")[0]
    undone = runner.invoke(app, ["etl", "rollback", run_id])
    assert undone.exit_code == 0 and "rolled back" in undone.output
    again = runner.invoke(app, ["etl", "rollback", run_id])
    assert again.exit_code == 2 and "already rolled back" in again.output
