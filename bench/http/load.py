"""One wrk run of `python -m bench http`: the request a contender answers, the run, its figures.

wrk (Debian's) drives the load through `bench/wrk/lookup.lua`, which draws random keys from a
file and reports, besides wrk's latency histogram, how many answers were good and the request id
of each good one (the gateway's access log must hold a row for every one of them).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.http.servers import cpu_used

SCRIPT = Path(__file__).resolve().parent.parent / "wrk" / "lookup.lua"


@dataclass(frozen=True)
class Lookup:
    """What one request of a contender is: {ID} in the path is a key, {IDS} in the body
    `per_request` keys as JSON strings; a good answer contains `expect` and no "errors"."""

    method: str
    path: str
    expect: str
    body: str = ""
    per_request: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)

    def spec(self) -> str:
        for text in (self.method, self.path, self.body, self.expect, *self.headers.values()):
            if "\n" in text:
                raise ValueError("a request spec line cannot hold a newline")
        lines = [self.method, self.path, self.body, self.expect, str(self.per_request)]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Figures:
    """A run's outcome; CPU as cores busy on average during the run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    good: int
    server_cpu: float
    load_cpu: float
    database_cpu: float | None
    answered: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests_per_s": round(self.requests_per_s),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": self.errors,
            "good": self.good,
            "server_cpu_cores": round(self.server_cpu, 2),
            "wrk_cpu_cores": round(self.load_cpu, 2),
            "database_cpu_cores": None
            if self.database_cpu is None
            else round(self.database_cpu, 2),
            "cpu_ms_per_request": {k: round(v, 3) for k, v in self.cpu_ms_per_request().items()},
        }

    def cpu_ms_per_request(self) -> dict[str, float]:
        """CPU milliseconds one request cost each process group (the database's when measured)."""
        per = 1000 / self.requests_per_s if self.requests_per_s else 0.0
        spent = {"server": self.server_cpu, "wrk": self.load_cpu}
        if self.database_cpu is not None:
            spent["database"] = self.database_cpu
        return {name: cores * per for name, cores in spent.items()}


def gateway_allowance(
    floor: Figures, prefill: Figures, *, cores: int, target: float
) -> dict[str, float] | None:
    """How much server CPU a prefill may cost for the prefill to reach `target` × the floor's
    throughput on this machine: at that rate the machine has `cores` / rate of CPU per request,
    of which the prefill's own database and wrk work (as measured) take their share. None when
    the database's CPU was not measured (an external database)."""
    prefill_ms, floor_ms = prefill.cpu_ms_per_request(), floor.cpu_ms_per_request()
    if "database" not in prefill_ms or not floor.requests_per_s:
        return None
    machine_ms = cores * 1000 / (target * floor.requests_per_s)
    return {
        "target_vs_floor": target,
        "machine_cpu_ms_per_request_at_target": round(machine_ms, 3),
        "prefill_database_and_wrk_cpu_ms": round(prefill_ms["database"] + prefill_ms["wrk"], 3),
        "server_cpu_ms_allowed": round(machine_ms - prefill_ms["database"] - prefill_ms["wrk"], 3),
        "server_cpu_ms_of_prefill": round(prefill_ms["server"], 3),
        "server_cpu_ms_of_floor": round(floor_ms["server"], 3),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def figures_of(
    report: str, *, server_cpu: float, load_cpu: float, database_cpu: float | None
) -> Figures:
    """Figures from the script's report (a JSON summary line, then the good answers' ids); CPU
    figures are seconds, turned into cores over the run's duration."""
    first, *ids = report.splitlines()
    summary = json.loads(first)
    seconds = summary["duration_us"] / 1e6
    errors = summary["bad"] + sum(summary[kind] for kind in ("connect", "read", "write", "timeout"))
    return Figures(
        requests_per_s=summary["requests"] / seconds,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=errors,
        good=summary["ok"],
        server_cpu=server_cpu / seconds,
        load_cpu=load_cpu / seconds,
        database_cpu=None if database_cpu is None else database_cpu / seconds,
        answered=tuple(ids),
    )


def run_wrk(
    url: str,
    lookup: Lookup,
    *,
    ids_file: Path,
    prefix: str,
    seconds: int,
    connections: int,
    threads: int,
    server_cpu: Callable[[], dict[int, float]],
    database_cpu: Callable[[], dict[int, float]] | None,
) -> Figures:
    with tempfile.TemporaryDirectory(prefix="lt-bench-wrk-") as folder:
        spec, out = Path(folder) / "request", Path(folder) / "report"
        spec.write_text(lookup.spec(), encoding="utf-8")
        command = ["wrk", "--latency", "-t", str(threads), "-c", str(connections),
                   "-d", f"{seconds}s", "--timeout", "10s", "-s", str(SCRIPT), url,
                   "--", str(ids_file), str(spec), prefix]  # fmt: skip
        server_before, load_before = server_cpu(), _children_cpu()
        database_before = database_cpu() if database_cpu else {}
        result = subprocess.run(
            command,
            env={**os.environ, "BENCH_WRK_OUT": str(out)},
            capture_output=True,
            text=True,
            check=False,
        )
        server_used = cpu_used(server_before, server_cpu())
        load_used = _children_cpu() - load_before
        database_used = cpu_used(database_before, database_cpu()) if database_cpu else None
        if result.returncode != 0 or not out.exists():
            raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
        return figures_of(
            out.read_text(encoding="utf-8"),
            server_cpu=server_used,
            load_cpu=load_used,
            database_cpu=database_used,
        )
