"""Access-log durability throughput:
`python -m bench audit [--producers=N] [--entries=N] [--rounds=R]`.

In one run, on a scratch database: acknowledged entries per second with group commit (the
gateway's writer) and with one commit per entry (the same writer with batches of one), each with
N concurrent producers awaiting durability (synchronous_commit on). The two alternate for R
rounds and the best round of each counts: these machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import json
import time

from bench.bench_etl import _drop, _option, _scratch_database
from gateway.audit.verify import verify
from gateway.audit.writer import AccessLogWriter, Disclosure
from lienthong.settings import Settings


def _disclosure(n: int) -> Disclosure:
    return Disclosure(
        request_id=f"bench-{n}",
        agency="motcua-danang",
        subject_type="resident",
        subject_id="048085000123",
        purpose="CT01",
        operation="PrefillCT01",
        fields_given=["fullName", "birthDate", "permanentAddress"],
        decision={"allow": True},
    )


async def _measure(dsn: str, *, producers: int, entries: int, max_batch: int) -> float:
    writer = AccessLogWriter(dsn, max_batch=max_batch)
    await writer.start()

    async def producer(index: int) -> None:
        for i in range(entries):
            await writer.record([_disclosure(index * entries + i)])

    started = time.perf_counter()
    await asyncio.gather(*(producer(p) for p in range(producers)))
    elapsed = time.perf_counter() - started
    await writer.stop()
    return producers * entries / elapsed


def main(argv: list[str]) -> None:
    producers = _option(argv, "--producers", 64)
    entries = _option(argv, "--entries", 200)
    rounds = _option(argv, "--rounds", 3)
    settings = Settings()
    dsn = _scratch_database(settings)
    grouped = single = 0.0
    try:
        for _ in range(rounds):
            grouped = max(
                grouped,
                asyncio.run(_measure(dsn, producers=producers, entries=entries, max_batch=1000)),
            )
            single = max(
                single,
                asyncio.run(
                    _measure(dsn, producers=producers, entries=max(entries // 10, 10), max_batch=1)
                ),
            )
        intact = verify(dsn).intact
    finally:
        _drop(settings, dsn)
    figures = {
        "producers": producers,
        "rounds": rounds,
        "group_commit_entries_per_s": round(grouped),
        "commit_per_entry_entries_per_s": round(single),
        "speed_up": round(grouped / single, 1),
        "chain_intact_after": intact,
    }
    for name, value in figures.items():
        print(f"{name:>32}: {value}")
    target = settings.home / "bench"
    target.mkdir(parents=True, exist_ok=True)
    (target / "audit.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
