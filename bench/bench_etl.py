"""ETL throughput: `python -m bench etl [--residents=N]` (default 1,000,000 residents).

In one run, on a scratch database of the embedded cluster (or LIENTHONG_DATABASE_URL's server):
  1. synthesise N residents (a subprocess: its peak memory is reported);
  2. the floor: a raw `COPY` of that same file into an unindexed all-text table;
  3. `lienthong etl load residents` of that file (a subprocess: its peak memory is reported):
     validation, normalisation, COPY into staging, the set-based merge into the versioned,
     indexed, constraint-checked registry — into an empty registry, so the bulk merge
     (registries.bulk) when the rule takes it, which the figures say;
  4. the registry floor: the rows the load produced, already typed and valid, inserted again
     with one `INSERT … SELECT` into the emptied registry tables (residents and households, with
     their indexes, the history exclusion constraints, checks and foreign keys) — the fastest
     an incremental load into these tables can be, with no reading, validation or merge logic;
  5. the bulk floor: the same insert with the tables' exclusion constraints and secondary
     indexes dropped first and rebuilt after (registries.bulk.rebuilt) — the fastest the bulk
     merge can be; and each of those structures built once more over the full tables, timed
     alone (rolled back);
  6. the load's Python part alone: reading and validating the file, nothing staged;
  7. the change-rate guard's cost: a re-export of the same residents with 1 % of them moved,
     loaded as a dry run (merged, then rolled back) with the guard and the suspicious-text
     checks, and without them, alternately, three times each, into the filled registry.
Prints rows/s of each and the ratios, the time the issue's target (40 % of raw COPY) leaves for
the whole load beside those parts, and writes .lienthong/bench/etl.json.

`python -m bench etl --against=DIR [--residents=N] [--rounds=R]` instead compares this checkout's
load with another's (DIR: a checkout of an earlier commit, e.g. `git worktree add /tmp/before
REV`), in the same run: each checkout synthesises N residents with its own `etl synth` (the same
seed, so the same people in each one's export format), then, R rounds, each loads its file with
its own `lienthong etl load residents` into a scratch database migrated by its own code, the two
alternating. Prints each load's seconds and rows/s, and the CPU seconds of the load process and
of the database backends serving it (from /proc: a busy machine slows a load but does not make
it use more CPU); the best round of each counts. Writes .lienthong/bench/etl-against.json.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from bench.proc import backends, cpu_seconds
from etl import pipeline
from etl.report import BULK_MERGE_LINE
from etl.targets import TARGETS
from lienthong import migrate
from lienthong.cluster import EmbeddedCluster
from lienthong.settings import Settings
from registries.bulk import (
    create,
    deferrable_structures,
    drop,
    for_rebuilding,
    rebuilt,
)
from registries.residents.merge import RESIDENT_COLUMNS
from tests.net import LIENTHONG

BULK_TABLES = TARGETS["residents"].bulk_tables
# The target: a load at least this share of a raw COPY's speed, in the same run.
TARGET_VS_RAW_COPY = 0.4


def _option(argv: list[str], name: str, default: int) -> int:
    for argument in argv:
        if argument.startswith(f"{name}="):
            return int(argument.split("=", 1)[1])
    return default


def _child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _scratch_database(settings: Settings) -> str:
    if settings.uses_embedded_database:
        EmbeddedCluster(settings).up()
    name = f"lt_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(settings.libpq_url).set(database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(settings.libpq_url).set(database=name).render_as_string(False)
    migrate.upgrade(Settings(database_url=url))
    return url


def _drop(settings: Settings, url: str) -> None:
    name = make_url(url).database
    admin = make_url(settings.libpq_url).set(database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _raw_copy(url: str, path: Path) -> float:
    columns = [
        "personal_id",
        "full_name",
        "birth_date",
        "sex",
        "ethnicity",
        *(c for c in RESIDENT_COLUMNS[5:] if c != "provenance"),
    ]  # as exported
    with psycopg.connect(url) as connection:
        connection.execute(
            sql.SQL("CREATE UNLOGGED TABLE raw_residents ({})").format(
                sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns)
            )
        )
        connection.commit()
        started = time.perf_counter()
        with (
            connection.cursor().copy(
                "COPY raw_residents FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy,
            path.open("rb") as handle,
        ):
            for block in iter(lambda: handle.read(1 << 20), b""):
                copy.write(block)
        connection.commit()
        return time.perf_counter() - started


def _registry_floor(url: str, *, bulk: bool) -> tuple[float, float]:
    """Re-insert what the load wrote into the emptied registry tables, timed (the whole, and the
    inserts alone); with `bulk`, with their structures dropped and rebuilt around the insert as
    the bulk merge does."""
    with psycopg.connect(url) as connection:
        connection.execute("CREATE TEMP TABLE typed_residents AS SELECT * FROM residents")
        connection.execute("CREATE TEMP TABLE typed_households AS SELECT * FROM households")
        connection.execute("TRUNCATE residents, households")
        connection.commit()
        started = time.perf_counter()
        with rebuilt(connection, BULK_TABLES) if bulk else nullcontext():
            connection.execute("INSERT INTO residents SELECT * FROM typed_residents")
            connection.execute("INSERT INTO households SELECT * FROM typed_households")
            inserted = time.perf_counter() - started
        connection.commit()
        return time.perf_counter() - started, inserted


def _rebuild_seconds(url: str) -> dict[str, float]:
    """Each structure the bulk merge rebuilds, dropped and created again over the full tables
    (in a transaction rolled back): what each costs to build once, whatever loads the rows."""
    seconds = {}
    with psycopg.connect(url) as connection, connection.transaction(force_rollback=True):
        for_rebuilding(connection)
        for structure in deferrable_structures(connection, BULK_TABLES):
            drop(connection, structure)
            started = time.perf_counter()
            create(connection, structure)
            seconds[structure.name] = round(time.perf_counter() - started, 2)
    return seconds


def _validation_seconds(url: str, path: Path) -> float:
    """The load's Python part alone: reading and validating the file, nothing staged."""
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        pipeline.count_valid(connection=connection, target="residents", path=path)
        return time.perf_counter() - started


def _guard_seconds(url: str, path: Path, folder: Path) -> tuple[float, float, int]:
    """The best of three dry-run reloads of a 1 %-changed copy with the guard, and without it;
    and how many records the copy changes."""
    changed = folder / "moved.csv"
    moved = 0
    with (
        path.open(encoding="utf-8", newline="") as source,
        changed.open("w", encoding="utf-8", newline="") as target,
    ):
        reader, writer = csv.DictReader(source), None
        for number, record in enumerate(reader):
            if writer is None:
                writer = csv.DictWriter(target, fieldnames=list(record))
                writer.writeheader()
            if number % 100 == 0:
                record["permanent_address_line"] = f"Số {number} đường Trần Phú"
                moved += 1
            writer.writerow(record)
    settings = Settings(database_url=url)
    timings: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):
        for guard in (True, False):
            started = time.perf_counter()
            pipeline.load(settings=settings, target="residents", path=changed, dry_run=True,
                          guard=guard, accept_changes=True)  # fmt: skip
            timings[guard].append(time.perf_counter() - started)
    return min(timings[True]), min(timings[False]), moved


def _against(argv: list[str]) -> str | None:
    for argument in argv:
        if argument.startswith("--against="):
            return argument.split("=", 1)[1]
    return None


def _in_checkout(checkout: Path, url: str) -> dict[str, str]:
    """The environment running `lienthong` from `checkout`'s code against the scratch `url`."""
    return {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "LIENTHONG_DATABASE_URL": url,
        "LIENTHONG_HOME": str(Settings().home),
        "COLUMNS": "120",
    }


# `lienthong` from whichever checkout PYTHONPATH names first (the installed script would not)
_CLI = [sys.executable, "-c", "from lienthong.cli import app; app()"]


def _load_once(checkout: Path, path: Path) -> dict[str, float]:
    """One load of `path` by `checkout`'s code into a scratch database its migrations made:
    wall seconds, the load process's CPU seconds and its database backends' (sampled while
    it runs: a backend's time is gone from /proc once it exits)."""
    settings = Settings()
    url = make_url(settings.libpq_url).set(database=f"lt_bench_{uuid.uuid4().hex[:8]}")
    name = str(url.database)
    admin = make_url(settings.libpq_url).set(database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    scratch = url.render_as_string(False)
    env = _in_checkout(checkout, scratch)
    try:
        subprocess.run(
            [sys.executable, "-c", "from lienthong import migrate; from lienthong.settings "
             "import Settings; migrate.upgrade(Settings())"],
            check=True, env=env, capture_output=True, cwd=checkout,
        )  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        seen: dict[int, float] = {}
        started = time.perf_counter()
        process = subprocess.Popen(
            [*_CLI, "etl", "load", "residents", str(path)],
            env=env, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        while process.poll() is None:
            seen.update(cpu_seconds(backends(name)))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if process.returncode != 0:
            raise SystemExit(
                f"{checkout}: load failed ({process.returncode}): "
                + (process.stderr.read().decode()[-2000:] if process.stderr else "")
            )
        return {
            "seconds": round(seconds, 2),
            "load_cpu_seconds": round(
                after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2
            ),
            "database_cpu_seconds": round(sum(seen.values()), 2),
        }
    finally:
        _drop(settings, scratch)


def compare(against: Path, residents: int, rounds: int) -> dict[str, object]:
    checkouts = {"before": against.resolve(), "after": Path(__file__).resolve().parents[1]}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in checkouts}
    with tempfile.TemporaryDirectory(prefix="lt-bench-etl-against-") as folder:
        files = {}
        for side, checkout in checkouts.items():
            out = Path(folder) / side
            subprocess.run(
                [*_CLI, "etl", "synth", "--out", str(out), "--residents",
                 str(residents), "--enterprises", "0", "--parcels", "0", "--seed", "1"],
                check=True, env=_in_checkout(checkout, Settings().libpq_url), cwd=checkout,
                capture_output=True,
            )  # fmt: skip
            files[side] = out / "residents.csv"
        for round_ in range(rounds):
            for side in checkouts if round_ % 2 == 0 else reversed(checkouts):
                run = _load_once(checkouts[side], files[side])
                run["rows_per_s"] = round(residents / run["seconds"])
                runs[side].append(run)
                print(f"  round {round_ + 1} {side:6} {run}", flush=True)
    best = {side: min(r, key=lambda run: run["seconds"]) for side, r in runs.items()}
    cpu = {
        side: min(run["load_cpu_seconds"] + run["database_cpu_seconds"] for run in r)
        for side, r in runs.items()
    }
    return {
        "residents": residents,
        "rounds": rounds,
        "against": str(checkouts["before"]),
        "runs": runs,
        "best_rows_per_s": {side: run["rows_per_s"] for side, run in best.items()},
        "after_over_before_seconds": round(best["after"]["seconds"] / best["before"]["seconds"], 3),
        "least_cpu_seconds": cpu,
        "after_over_before_cpu": round(cpu["after"] / cpu["before"], 3),
    }


def main(argv: list[str]) -> None:
    residents = _option(argv, "--residents", 1_000_000)
    against = _against(argv)
    if against is not None:
        figures = compare(Path(against), residents, _option(argv, "--rounds", 2))
        for key, value in figures.items():
            if key != "runs":
                print(f"{key:>28}: {value}")
        target = Settings().home / "bench" / "etl-against.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(figures, indent=1), encoding="utf-8")
        return
    settings = Settings()
    url = _scratch_database(settings)
    env = {**os.environ, "LIENTHONG_DATABASE_URL": url}
    try:
        with tempfile.TemporaryDirectory(prefix="lt-bench-etl-") as folder:
            out = Path(folder)
            started = time.perf_counter()
            subprocess.run(
                [str(LIENTHONG), "etl", "synth", "--out", str(out), "--residents", str(residents),
                 "--enterprises", "0", "--parcels", "0", "--seed", "1"],
                check=True, env=env, capture_output=True,
            )  # fmt: skip
            synth_seconds = time.perf_counter() - started
            synth_peak = _child_peak_mb()
            path = out / "residents.csv"
            rows = sum(1 for _ in path.open("rb")) - 1
            file_mb = round(path.stat().st_size / 1e6, 1)
            copy_seconds = _raw_copy(url, path)
            started = time.perf_counter()
            result = subprocess.run(
                [str(LIENTHONG), "etl", "load", "residents", str(path)],
                check=False, env={**env, "COLUMNS": "120"}, capture_output=True, text=True,
            )  # fmt: skip
            load_seconds = time.perf_counter() - started
            load_peak = _child_peak_mb()  # max over children so far: the load is the largest
            if result.returncode != 0:
                print(result.stderr)
                raise SystemExit(f"load failed with exit code {result.returncode}")
            validation_seconds = _validation_seconds(url, path)
            with_guard, without_guard, moved = _guard_seconds(url, path, out)
            floor_seconds, _ = _registry_floor(url, bulk=False)
            bulk_floor_seconds, bulk_insert_seconds = _registry_floor(url, bulk=True)
            rebuilds = _rebuild_seconds(url)
    finally:
        _drop(settings, url)
    figures = {
        "residents": rows,
        "file_mb": file_mb,
        "synth_seconds": round(synth_seconds, 1),
        "synth_peak_rss_mb": round(synth_peak),
        "raw_copy_seconds": round(copy_seconds, 2),
        "raw_copy_rows_per_s": round(rows / copy_seconds),
        "etl_load_seconds": round(load_seconds, 2),
        "etl_load_rows_per_s": round(rows / load_seconds),
        "etl_vs_raw_copy": round(copy_seconds / load_seconds, 3),
        "etl_load_peak_rss_mb": round(load_peak),
        "etl_load_bulk_merge": BULK_MERGE_LINE in result.stderr,
        "registry_floor_seconds": round(floor_seconds, 2),
        "registry_floor_rows_per_s": round(rows / floor_seconds),
        "registry_floor_vs_raw_copy": round(copy_seconds / floor_seconds, 3),
        "etl_vs_registry_floor": round(floor_seconds / load_seconds, 3),
        "bulk_floor_seconds": round(bulk_floor_seconds, 2),
        "bulk_floor_rows_per_s": round(rows / bulk_floor_seconds),
        "bulk_floor_vs_raw_copy": round(copy_seconds / bulk_floor_seconds, 3),
        "etl_vs_bulk_floor": round(bulk_floor_seconds / load_seconds, 3),
        "bulk_floor_insert_seconds": round(bulk_insert_seconds, 2),
        "rebuild_seconds_by_structure": rebuilds,
        "validation_only_seconds": round(validation_seconds, 2),
        "validation_only_us_per_row": round(validation_seconds / rows * 1e6, 1),
        "reload_records_changed": moved,
        "reload_with_guard_seconds": round(with_guard, 2),
        "reload_without_guard_seconds": round(without_guard, 2),
        "guard_cost_share": round(with_guard / without_guard - 1, 3),
        # What the target leaves for the whole load, beside what parts of it take alone.
        "target_seconds": round(copy_seconds / TARGET_VS_RAW_COPY, 2),
    }
    for name, value in figures.items():
        print(f"{name:>26}: {value}")
    target = settings.home / "bench"
    target.mkdir(parents=True, exist_ok=True)
    (target / "etl.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
