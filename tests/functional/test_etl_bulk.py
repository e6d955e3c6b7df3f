"""The bulk merge (registries.bulk) against the real database: taken when the rule says so, the
same registry as the normal path, every structure back exactly as the migrations made it, and a
violation found by the rebuild fails the whole load."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from etl import pipeline
from etl.pipeline import load
from etl.synth import SynthOptions, synthesize
from lienthong.settings import Settings
from registries import bulk
from registries.events import Outbox
from registries.merge import MergeCounts
from tests.functional.loads import REGISTRY_TABLES

BULK_TABLES = (
    "residents",
    "households",
    "enterprises",
    "enterprise_representatives",
    "enterprise_business_lines",
)
Structures = set[tuple[str, str, str]]


@pytest.fixture
def clean(settings: Settings) -> Iterator[Settings]:
    yield settings
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {REGISTRY_TABLES}")


def _structures(url: str) -> Structures:
    """Every constraint and index of the bulk tables, by name, with its definition."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid = ANY(%(t)s::regclass[]) UNION ALL "
            "SELECT indrelid::regclass::text, indexrelid::regclass::text, "
            "pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = ANY(%(t)s::regclass[])",
            {"t": list(BULK_TABLES)},
        ).fetchall()
    return {(str(table), str(name), str(definition)) for table, name, definition in rows}


@pytest.fixture(scope="module")
def migrated_structures(template_database: tuple[str, str]) -> Structures:
    """The structures `alembic upgrade head` created: read from the migrated template."""
    base_url, template = template_database
    url = psycopg.conninfo.make_conninfo(base_url, dbname=template)
    structures = _structures(url)
    assert len(structures) > 20  # the migrations' constraints and indexes, not an empty answer
    return structures


def _registry(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """The registry content that does not depend on when it was written: every version's
    attributes and whether it is open, and the number of versions per key."""
    content = {}
    with psycopg.connect(settings.libpq_url) as connection:
        for table in ("residents", "households", "enterprises", "enterprise_representatives"):
            content[table] = connection.execute(
                sql.SQL(
                    "SELECT to_jsonb(t) - 'version_id' - 'valid_from' - 'valid_to' "
                    "- 'recorded_at', valid_to IS NULL FROM {} AS t ORDER BY 1, 2"
                ).format(sql.Identifier(table))
            ).fetchall()
    return content


def _synth(tmp_path: Path, name: str = "src", **options: object) -> Path:
    out = tmp_path / name
    values: dict[str, object] = {"residents": 300, "enterprises": 20, "parcels": 0, "seed": 11}
    values.update(options)
    synthesize(SynthOptions(out=out, **values))  # type: ignore[arg-type]
    return out


def _changed_copy(path: Path, target: Path, *, rows: int) -> Path:
    """`path` with the full name of its first `rows` records changed."""
    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    for record in records[:rows]:
        record["full_name"] += " Bảo"
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return target


def _empty_registry(settings: Settings) -> None:
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {REGISTRY_TABLES}")


def test_the_bulk_path_lands_the_same_registry_as_the_normal_path(
    clean: Settings, tmp_path: Path, migrated_structures: Structures
) -> None:
    source = _synth(tmp_path)
    changed = _changed_copy(source / "residents.csv", tmp_path / "changed.csv", rows=25)
    outcomes = {}
    for forced in (False, True):
        _empty_registry(clean)
        reports = [  # 25 of 300 names changed: beyond the guard's limits, accepted here
            load(settings=clean, target=target, path=path, bulk=forced, accept_changes=True)
            for target, path in (
                ("residents", source / "residents.csv"),
                ("residents", changed),
                ("enterprises", source / "enterprises.csv"),
            )
        ]
        assert [report.bulk for report in reports] == [forced] * 3
        counts = [(r.inserted, r.updated, r.unchanged, r.rejected) for r in reports]
        outcomes[forced] = (counts, _registry(clean))
        assert _structures(clean.libpq_url) == migrated_structures
    assert outcomes[True] == outcomes[False]
    counts, registry = outcomes[True]
    assert counts[:2] == [(300, 0, 0, 0), (0, 25, 275, 0)]
    assert len(registry["residents"]) == 325  # 25 closed versions and 300 open ones
    assert len(registry["enterprise_representatives"]) > 0


def test_the_rule_takes_bulk_for_a_load_that_dwarfs_the_registry_only(
    clean: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _synth(tmp_path) / "residents.csv"
    small = _synth(tmp_path, name="small", residents=20, enterprises=0) / "residents.csv"
    assert not load(settings=clean, target="residents", path=path).bulk  # under BULK_MIN_ROWS
    _empty_registry(clean)
    monkeypatch.setattr(bulk, "BULK_MIN_ROWS", 100)
    first = load(settings=clean, target="residents", path=path)
    assert first.bulk and first.inserted == 300
    again = load(settings=clean, target="residents", path=path)
    assert not again.bulk  # an incremental load of a filled registry keeps the normal path
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 300)
    assert again.changed_nothing
    assert not load(settings=clean, target="residents", path=small).bulk  # under the minimum


def test_a_second_bulk_load_of_the_same_file_changes_nothing(
    clean: Settings, tmp_path: Path, migrated_structures: Structures
) -> None:
    path = _synth(tmp_path) / "residents.csv"
    load(settings=clean, target="residents", path=path, bulk=True)
    before = _registry(clean)
    second = load(settings=clean, target="residents", path=path, bulk=True)
    assert second.bulk and second.changed_nothing
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 300)
    assert _registry(clean) == before
    assert _structures(clean.libpq_url) == migrated_structures


@pytest.mark.parametrize(
    ("spoil", "violation"),
    [
        # a second open version of a resident: caught by the rebuilt unique and exclusion indexes
        (
            "INSERT INTO residents (personal_id, full_name, birth_date, sex, ethnicity_code, "
            "nationality, deceased) SELECT personal_id, full_name, birth_date, sex, "
            "ethnicity_code, nationality, deceased FROM residents LIMIT 1",
            (psycopg.errors.ExclusionViolation, psycopg.errors.UniqueViolation),
        ),
        # a closed version overlapping the open one: caught by the rebuilt exclusion constraint
        (
            "INSERT INTO residents (personal_id, full_name, birth_date, sex, ethnicity_code, "
            "nationality, deceased, valid_from, valid_to) SELECT personal_id, full_name, "
            "birth_date, sex, ethnicity_code, nationality, deceased, "
            "valid_from - interval '1 day', valid_from + interval '1 second' "
            "FROM residents LIMIT 1",
            (psycopg.errors.ExclusionViolation,),
        ),
    ],
    ids=["second-open-version", "overlapping-history"],
)
def test_a_bulk_load_whose_rows_break_a_rebuilt_structure_fails_whole(
    clean: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    migrated_structures: Structures,
    spoil: str,
    violation: tuple[type[Exception], ...],
) -> None:
    source = _synth(tmp_path)
    load(settings=clean, target="residents", path=source / "residents.csv", bulk=False)
    before = _registry(clean)
    spec = pipeline.TARGETS["residents"]
    spoiled: list[str] = []

    def merge_then_spoil(
        connection: psycopg.Connection[tuple[object, ...]], outbox: Outbox
    ) -> MergeCounts:
        counts = spec.merge(connection, outbox)
        spoiled.append(connection.execute(spoil).statusmessage or "")
        return counts

    monkeypatch.setitem(pipeline.TARGETS, "residents", replace(spec, merge=merge_then_spoil))
    changed = _changed_copy(source / "residents.csv", tmp_path / "changed.csv", rows=10)
    with pytest.raises(violation):
        load(settings=clean, target="residents", path=changed, bulk=True, accept_changes=True)
    assert len(spoiled) == 1  # the bad rows were accepted with the structures down: the rebuild
    assert _registry(clean) == before  # found them, and the load rolled back whole
    assert _structures(clean.libpq_url) == migrated_structures
    with psycopg.connect(clean.libpq_url) as connection:
        runs = connection.execute("SELECT status FROM etl_runs ORDER BY run_id").fetchall()
    assert runs == [("done",), ("failed",)]


def test_deferrable_structures_are_the_exclusion_constraints_and_secondary_indexes(
    settings: Settings,
) -> None:
    with psycopg.connect(settings.libpq_url) as connection:
        structures = bulk.deferrable_structures(connection, ["residents", "households"])
    assert {(s.table, s.name, s.kind) for s in structures} == {
        ("households", "ex_households_no_overlap", "constraint"),
        ("households", "uq_households_open_version", "index"),
        ("residents", "ex_residents_no_overlap", "constraint"),
        ("residents", "ix_residents_household_id", "index"),
        ("residents", "ix_residents_id_card_number", "index"),
        ("residents", "ix_residents_father_id", "index"),
        ("residents", "ix_residents_mother_id", "index"),
        ("residents", "ix_residents_spouse_id", "index"),
        ("residents", "uq_residents_open_version", "index"),
    }  # primary keys, CHECK constraints and foreign keys stay in place


def test_a_bulk_load_locks_only_the_registry_it_loads(
    clean: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Foreign keys stay during a bulk merge: the reference tables they point to are not
    locked, so other registries' reads (which join communes) go on."""
    spec = pipeline.TARGETS["residents"]
    locked: list[tuple[str, str]] = []

    def merge_and_look(
        connection: psycopg.Connection[tuple[object, ...]], outbox: Outbox
    ) -> MergeCounts:
        counts = spec.merge(connection, outbox)
        locked.extend(
            (str(relation), str(mode))
            for relation, mode in connection.execute(
                "SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = "
                "pg_backend_pid() AND mode = 'AccessExclusiveLock' AND relation IS NOT NULL "
                "AND relation::regclass::text IN ('residents', 'households', 'communes', "
                "'ethnic_groups')"
            ).fetchall()
        )
        return counts

    monkeypatch.setitem(pipeline.TARGETS, "residents", replace(spec, merge=merge_and_look))
    report = load(
        settings=clean, target="residents", path=_synth(tmp_path) / "residents.csv", bulk=True
    )
    assert report.bulk
    assert sorted({relation for relation, _ in locked}) == ["households", "residents"]
