"""Change events: `python -m bench events [--residents=N] [--rounds=R] [--rate=E] [--seconds=S]
[--workers=W] [--only=PART,…]` (default 100,000 residents, 3 rounds, 1,000 events a second for
30 seconds to 2 workers, every part).

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
  webhooks: from an event's commit to its webhook's receipt. E `resident.name_changed` events
     a second, for S seconds, are committed a batch every 50 ms (one transaction each, as a
     merge writes them) about 5,000 residents; W real `lienthong worker` processes (their
     default settings) push them to a subscription's receiver on loopback (a process of its
     own, noting when each `webhook-id` arrives). An event's latency is its arrival less its
     `recorded_at`. Prints p50 and p99 over the steady window (the first fifth left out) and
     whether the workers kept up (when the producer stopped, at most 2 seconds of its events
     were still undelivered); if they did not, the rate is halved and run again (at most 4
     rates), so the figures are those of the highest rate this machine sustains, said as such.
     Each step also reports the events delivered a second while the producer ran and the CPU
     the workers and their database backends (this host's, read from /proc) spent per event
     meanwhile; their sum at the busiest step gives the cores the asked rate needs.
Writes .lienthong/bench/events.json, one object per part.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.bench_etl import _drop, _option, _scratch_database
from bench.proc import backends, cpu_seconds
from etl import pipeline
from etl.synth import SynthOptions, synthesize
from gateway.admin.subscriptions.service import new_secret
from gateway.events.fanout import open_cursor
from gateway.policy.models import Subscription
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.events import Outbox
from registries.history import supersede
from tests.net import LIENTHONG, free_port

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
    rate: int = 1000  # webhooks: events a second
    seconds: int = 30  # webhooks: for how long
    workers: int = 2  # webhooks: `lienthong worker` processes


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


# --- part: webhooks (the webhook workers' latency) ---------------------------------------------
# A producer commits `resident.name_changed` events at a steady rate, a batch every
# BATCH_SECONDS in one transaction each (what a registry merge writes), for `--seconds`; two real
# `lienthong worker` processes (`--workers`) fan them out to one approved subscription and push
# them to a receiver on loopback (a process of its own: an asyncio HTTP/1.1 server noting when
# each `webhook-id` arrives). An event's latency is its arrival less its `recorded_at` (the
# committing transaction's start, on this machine's clock). The workers kept up when, by the
# time the producer stopped, at most KEPT_UP_SECONDS of its events were still undelivered; if
# they did not, the rate is halved and the run repeated (at most RATE_STEPS rates): the figures
# of the highest rate kept up are the part's answer.

BATCH_SECONDS = 0.05
KEPT_UP_SECONDS = 2.0
RATE_STEPS = 4
WEBHOOK_AGENCY, WEBHOOK_PURPOSE = "bench-bhxh", "BENCH-CHI"
WEBHOOK_POLICY: dict[str, Any] = {
    "agencies": [{"client_id": WEBHOOK_AGENCY, "name": "BHXH (bench)", "kind": "insurance"}],
    "purposes": [{"code": WEBHOOK_PURPOSE, "title": "Chi trả", "procedure": "Chi trả chế độ"}],
    "agreements": [
        {
            "agency": WEBHOOK_AGENCY, "purpose": WEBHOOK_PURPOSE, "type": "Resident",
            "fields": ["id", "fullName"], "legal_basis": "Luật Bảo hiểm xã hội 2024",
            "consent_required": False, "via": None, "masking": {}, "status": "approved",
            "valid_from": "2025-07-01T00:00:00Z", "valid_to": None,
        }
    ],
}  # fmt: skip
RECEIVER = """
import asyncio, signal, sys, time

port, out = int(sys.argv[1]), sys.argv[2]
seen = []
ANSWER = b"HTTP/1.1 204 No Content\\r\\ncontent-length: 0\\r\\n\\r\\n"

class Hook(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\\r\\n\\r\\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").lower().split("\\r\\n")
            fields = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
            size = int(fields.get("content-length", "0"))
            if len(self.buffer) < end + 4 + size:
                return
            self.buffer = self.buffer[end + 4 + size:]
            seen.append((fields.get("webhook-id", ""), time.time()))
            self.transport.write(ANSWER)

async def main():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    server = await loop.create_server(Hook, "127.0.0.1", port)
    print("ready", flush=True)
    await stop
    server.close()
    with open(out, "w") as f:
        f.writelines(f"{i} {t}\\n" for i, t in seen)

asyncio.run(main())
"""


async def _subscribe(url: str, endpoint: str) -> None:
    """The bench agency's policy and its approved subscription to name changes, pushed."""
    settings = Settings(database_url=url)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=WEBHOOK_POLICY, actor="bench")
            key = f"{WEBHOOK_AGENCY}/ten"
            await supersede(session=session, model=Subscription, key={"subscription_id": key},
                            values={"agency": WEBHOOK_AGENCY, "purpose": WEBHOOK_PURPOSE,
                                    "name": "ten", "event_types": ["resident.name_changed"],
                                    "endpoint": endpoint, "secret": new_secret(),
                                    "status": "approved", "approvals": {"population": "bench"},
                                    "created_by": "bench", "changed_by": "bench"})  # fmt: skip
            await open_cursor(session, key)
    finally:
        await engine.dispose()


async def _produce(
    url: str, versions: list[tuple[str, int]], rate: int, seconds: int, source: str
) -> int:
    """`rate` events a second for `seconds`, a transaction every BATCH_SECONDS; how many."""
    connection = await asyncpg.connect(url)
    made = 0
    started = time.monotonic()
    try:
        for batch in range(max(1, round(seconds / BATCH_SECONDS))):
            await asyncio.sleep(max(0.0, started + batch * BATCH_SECONDS - time.monotonic()))
            due = round(rate * (batch + 1) * BATCH_SECONDS) - made  # the rate, however it divides
            chosen = [versions[(made + n) % len(versions)] for n in range(due)]
            await connection.execute(
                "INSERT INTO change_events (type, subject_type, subject_id, fields, "
                "new_version_id, subject_sequence, effective_at, source) "
                "SELECT 'resident.name_changed', 'Resident', s, ARRAY['fullName'], v, 2, now(), "
                "$3 FROM unnest($1::text[], $2::bigint[]) AS t(s, v)",
                [s for s, _ in chosen], [v for _, v in chosen], source,
            )  # fmt: skip
            made += due
    finally:
        await connection.close()
    return made


def _undelivered(url: str, source: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM change_events e WHERE e.source = %s AND NOT EXISTS "
            "(SELECT FROM deliveries d WHERE d.event_id = e.event_id AND d.status = 'delivered')",
            (source,),
        ).fetchone()
    return int(row[0]) if row else 0


def _start_worker(env: dict[str, str], number: int, folder: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    log = (folder / f"worker-{number}.log").open("wb")
    process = subprocess.Popen(
        [str(LIENTHONG), "worker", "--port", str(port), "--name", f"bench-{number}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"lienthong worker did not start: {folder / f'worker-{number}.log'}")


class _Cpu:
    """CPU seconds the workers and their database backends use over a window."""

    def __init__(self, url: str, workers: list[int]) -> None:
        self.database = make_url(url).database or ""
        self.workers = workers
        self.started = self._now()

    def _now(self) -> tuple[dict[int, float], dict[int, float]]:
        return cpu_seconds(self.workers), cpu_seconds(backends(self.database))

    def used(self) -> tuple[float, float]:
        """Seconds since the window began: the workers', and the database's on their behalf
        (every backend of the bench database but the producer's, which has closed by then)."""
        workers, backends = self._now()
        before_workers, before_backends = self.started
        return (
            sum(workers.values()) - sum(before_workers.get(p, 0.0) for p in workers),
            sum(backends.values()) - sum(before_backends.get(p, 0.0) for p in backends),
        )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _latencies(
    recorded: list[tuple[Any, ...]], arrived: dict[str, float], source: str, seconds: int
) -> dict[str, Any]:
    """p50 and p99 of the events of one rate, over its steady window (the first fifth of the
    run left out, while the workers warm up)."""
    mine = [(str(i), at.timestamp()) for i, of, at in recorded if of == source]
    start = min(at for _, at in mine)
    steady = [arrived[i] - at for i, at in mine if i in arrived and at >= start + seconds / 5]

    def ms(share: float) -> float | None:
        return round(_percentile(steady, share) * 1000, 1) if steady else None

    return {
        "received": sum(1 for i, _ in mine if i in arrived),
        "latency_p50_ms": ms(0.50),
        "latency_p99_ms": ms(0.99),
    }


def _one_rate(
    url: str, versions: list[tuple[str, int]], rate: int, seconds: int, workers: list[int]
) -> dict[str, Any]:
    """The producer at `rate` for `seconds`, then until every event is delivered (for as long
    again at most; what is left then is dropped). While the producer runs, the CPU the
    workers and their database backends use, per event delivered meanwhile."""
    source = f"bench:{rate}"
    cpu = _Cpu(url, workers)
    produced = asyncio.run(_produce(url, versions, rate, seconds, source))
    behind = _undelivered(url, source)
    worker_seconds, database_seconds = cpu.used()
    delivered = max(1, produced - behind)
    deadline = time.monotonic() + max(30, seconds)
    while _undelivered(url, source) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _undelivered(url, source)
    if left:  # not kept up: what is left would only slow the next rate down
        with psycopg.connect(url) as connection:
            connection.execute(
                "UPDATE deliveries SET status = 'cancelled', cancelled_reason = 'bench: dropped' "
                "WHERE status IN ('pending', 'failed')"
            )
            connection.execute(
                "UPDATE subscription_cursors SET (after_txid, after_seq) = (SELECT txid, seq "
                "FROM change_events ORDER BY txid DESC, seq DESC LIMIT 1)"
            )
    return {
        "rate": rate,
        "events": produced,
        "undelivered_when_producer_stopped": behind,
        "undelivered_then_dropped": left,
        "kept_up": behind <= rate * KEPT_UP_SECONDS,
        "delivered_per_second": round((produced - behind) / seconds),
        "worker_cpu_ms_per_event": round(worker_seconds * 1000 / delivered, 2),
        "database_cpu_ms_per_event": round(database_seconds * 1000 / delivered, 2),
    }


def webhooks(url: str, options: Options) -> dict[str, Any]:
    rate, seconds = options.rate, options.seconds
    settings = Settings(database_url=url)
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lt-bench-webhooks-") as folder:
        out = Path(folder)
        synthesize(SynthOptions(residents=5_000, enterprises=0, parcels=0, out=out, seed=2))
        pipeline.load(settings=settings, target="residents", path=out / "residents.csv")
        with psycopg.connect(url) as connection:
            versions = [
                (str(s), int(v))
                for s, v in connection.execute(
                    "SELECT personal_id, version_id FROM residents WHERE valid_to IS NULL"
                ).fetchall()
            ]
        port, receipts = free_port(), out / "receipts.txt"
        receiver = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(port), str(receipts)], stdout=subprocess.PIPE
        )
        env = {**os.environ, "LIENTHONG_DATABASE_URL": url, "LIENTHONG_HOME": str(out)}
        workers: list[subprocess.Popen[bytes]] = []
        try:
            if receiver.stdout is None or not receiver.stdout.readline():
                raise SystemExit("the receiver did not start")
            asyncio.run(_subscribe(url, f"http://127.0.0.1:{port}/hook"))
            workers = [_start_worker(env, n, out) for n in range(options.workers)]
            for _ in range(RATE_STEPS):
                pids = [process.pid for process in workers]
                steps.append(_one_rate(url, versions, rate, seconds, pids))
                if steps[-1]["kept_up"] or rate <= 1:
                    break
                rate //= 2
        finally:
            for process in workers:
                process.send_signal(signal.SIGTERM)
            for process in workers:
                process.wait(timeout=60)
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(timeout=60)
        arrived: dict[str, float] = {}
        for line in receipts.read_text(encoding="utf-8").splitlines():
            event_id, at = line.split()
            arrived.setdefault(event_id, float(at))
    with psycopg.connect(url) as connection:
        recorded = connection.execute(
            "SELECT event_id::text, source, recorded_at FROM change_events"
        ).fetchall()
    for step in steps:
        step.update(_latencies(recorded, arrived, f"bench:{step['rate']}", seconds))
    kept = [step for step in steps if step["kept_up"]]
    best = kept[0] if kept else steps[-1]
    busiest = max(steps, key=lambda step: step["delivered_per_second"])
    cost = round(busiest["worker_cpu_ms_per_event"] + busiest["database_cpu_ms_per_event"], 2)
    return {
        "rate_asked": options.rate,
        "seconds_each": seconds,
        "workers": options.workers,
        "highest_rate_kept_up": best["rate"] if kept else None,
        "latency_p50_ms": best["latency_p50_ms"],
        "latency_p99_ms": best["latency_p99_ms"],
        "cores": os.cpu_count(),
        # What one event costs the workers and their database at the busiest step (the one
        # that batches most), and so the cores the asked rate needs for those two alone
        "cpu_ms_per_event": cost,
        "cores_for_rate_asked": round(cost * options.rate / 1000, 1),
        "steps": steps,
    }


# Every part, in the order they run: each measures on a scratch database of its own (its URL)
# and returns its figures.
PARTS: dict[str, Callable[[str, Options], dict[str, Any]]] = {
    "outbox": outbox,
    "webhooks": webhooks,
}


def main(argv: list[str]) -> None:
    options = Options(
        residents=_option(argv, "--residents", 100_000),
        rounds=_option(argv, "--rounds", 3),
        rate=_option(argv, "--rate", 1000),
        seconds=_option(argv, "--seconds", 30),
        workers=_option(argv, "--workers", 2),
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
