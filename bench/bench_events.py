"""Change events: `python -m bench events [--residents=N] [--rounds=R] [--only=PART,…]` (default
100,000 residents, 3 rounds, every part).

In one run, on a scratch database of the embedded cluster (or LIENTHONG_DATABASE_URL's server),
each part measures one side of the change events (registries.events) and prints its figures:
  outbox: what writing the events costs a load. N synthetic residents are loaded (the
     registry's first fill, which records no event: checked), then an export of the same N
     residents each of whom moved (a new permanent address line: N `resident.address_changed`
     events) is loaded as a dry run (read, validated, staged, guarded, merged, then rolled
     back) with the outbox and without it (`pipeline.load(events=False)`), alternately, R
     times each, the registry vacuumed between runs; the best of each side counts. The time
     spent in the outbox's own statements is also summed within each run: the share it adds
     to the rest of that run does not depend on how busy the machine was in the other run.
     Last, the same export is loaded for real with the outbox and its events are counted.
     Prints both times and the outbox's share against the issue's target (under 20 %).
Writes .lienthong/bench/events.json, one object per part.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_etl import _drop, _option, _scratch_database
from etl import pipeline
from etl.synth import SynthOptions, synthesize
from lienthong.settings import Settings
from registries.events import Outbox

# The target: the outbox slows a load of changed residents by less than this share.
TARGET_OUTBOX_SHARE = 0.20


def _only(argv: list[str]) -> list[str] | None:
    for argument in argv:
        if argument.startswith("--only="):
            return [name for name in argument.split("=", 1)[1].split(",") if name]
    return None


def _moved(path: Path, target: Path) -> int:
    """A copy of the export where every resident has a new permanent address line."""
    moved = 0
    with (
        path.open(encoding="utf-8", newline="") as source,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.DictReader(source)
        writer = csv.DictWriter(out, fieldnames=list(reader.fieldnames or ()))
        writer.writeheader()
        for number, record in enumerate(reader):
            record["permanent_address_line"] = f"Số {number + 1} đường Nguyễn Văn Linh"
            writer.writerow(record)
            moved += 1
    return moved


def _events(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM change_events").fetchone()
    return int(row[0]) if row else 0


def _vacuum(url: str) -> None:
    """The dead rows a rolled-back run left, gone before the next run (either side)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE residents, households, change_events")


@dataclass(frozen=True)
class Options:
    """The command's options, for every part (a part reads those it needs)."""

    residents: int
    rounds: int


@contextmanager
def _outbox_timed(spent: list[float]) -> Iterator[None]:
    """Every call of the outbox's recording methods timed, its seconds appended to `spent`."""
    originals = {name: getattr(Outbox, name) for name in ("versions", "children")}

    def timed(original: Callable[..., int]) -> Callable[..., int]:
        def call(*args: Any, **kwargs: Any) -> int:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - started)

        return call

    for name, original in originals.items():
        setattr(Outbox, name, timed(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(Outbox, name, original)


def outbox(url: str, options: Options) -> dict[str, Any]:
    residents, rounds = options.residents, options.rounds
    settings = Settings(database_url=url)
    with tempfile.TemporaryDirectory(prefix="lt-bench-events-") as folder:
        out = Path(folder)
        synthesize(SynthOptions(residents=residents, enterprises=0, parcels=0, out=out, seed=1))
        path = out / "residents.csv"
        started = time.perf_counter()
        first = pipeline.load(settings=settings, target="residents", path=path)
        first_fill_seconds = time.perf_counter() - started
        first_fill_events = _events(url)
        if first_fill_events:
            raise SystemExit(f"the first fill recorded {first_fill_events} events")
        changed = out / "moved.csv"
        moved = _moved(path, changed)
        _vacuum(url)
        timings: dict[bool, list[float]] = {True: [], False: []}
        inside: list[float] = []  # per run with the outbox: seconds in its statements
        for _ in range(rounds):
            for events in (True, False):
                spent: list[float] = []
                started = time.perf_counter()
                with _outbox_timed(spent):
                    report = pipeline.load(
                        settings=settings,
                        target="residents",
                        path=changed,
                        dry_run=True,
                        accept_changes=True,
                        events=events,
                    )
                timings[events].append(time.perf_counter() - started)
                if events:
                    inside.append(sum(spent))
                if report.updated != first.inserted:
                    raise SystemExit(f"the reload changed {report.updated} of {first.inserted}")
                _vacuum(url)
        started = time.perf_counter()
        pipeline.load(settings=settings, target="residents", path=changed, accept_changes=True)
        committed_seconds = time.perf_counter() - started
        committed_events = _events(url)
        if committed_events != moved:
            raise SystemExit(f"{moved} residents moved, {committed_events} events recorded")
    with_outbox, without_outbox = min(timings[True]), min(timings[False])
    share = with_outbox / without_outbox - 1
    # within each run: the outbox's seconds against the rest of the same run
    shares = [spent / (total - spent) for spent, total in zip(inside, timings[True], strict=True)]
    return {
        "residents": first.inserted,
        "first_fill_seconds": round(first_fill_seconds, 2),
        "first_fill_bulk_merge": first.bulk,
        "first_fill_events": first_fill_events,
        "reload_residents_moved": moved,
        "reload_with_outbox_seconds": round(with_outbox, 2),
        "reload_without_outbox_seconds": round(without_outbox, 2),
        "reload_with_outbox_all": [round(t, 2) for t in timings[True]],
        "reload_without_outbox_all": [round(t, 2) for t in timings[False]],
        "outbox_share": round(share, 3),
        "outbox_seconds_within_runs": [round(spent, 2) for spent in inside],
        "outbox_share_within_runs": [round(x, 3) for x in shares],
        "outbox_target_share": TARGET_OUTBOX_SHARE,
        "outbox_under_target": share < TARGET_OUTBOX_SHARE,
        "outbox_under_target_within_runs": min(shares) < TARGET_OUTBOX_SHARE,
        "committed_reload_seconds": round(committed_seconds, 2),
        "committed_reload_events": committed_events,
    }


# Every part, in the order they run: each measures on a scratch database of its own (its URL)
# and returns its figures.
PARTS: dict[str, Callable[[str, Options], dict[str, Any]]] = {"outbox": outbox}


def main(argv: list[str]) -> None:
    options = Options(
        residents=_option(argv, "--residents", 100_000), rounds=_option(argv, "--rounds", 3)
    )
    names = _only(argv) or list(PARTS)
    unknown = sorted(set(names) - PARTS.keys())
    if unknown:
        raise SystemExit(f"no part {', '.join(unknown)} (parts: {', '.join(PARTS)})")
    settings = Settings()
    figures: dict[str, dict[str, Any]] = {}
    for name in names:
        url = _scratch_database(settings)
        try:
            figures[name] = PARTS[name](url, options)
        finally:
            _drop(settings, url)
        print(f"-- {name}")
        for key, value in figures[name].items():
            print(f"{key:>32}: {value}")
    target = settings.home / "bench"
    target.mkdir(parents=True, exist_ok=True)
    (target / "events.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
