"""Prefill with registry reads on a replica vs on the primary:
`python -m bench replica [--residents=N] [--seconds=S] [--connections=C] [--rounds=R]`.

In one run: a primary and its streaming replica on loopback (`pg_basebackup -R`, the same set-up
as the replication test), N synthetic residents loaded through the real ETL, then the gateway
(`lienthong serve`, one uvicorn worker) twice — once with `LIENTHONG_DATABASE_REPLICA_URLS`
naming the replica, once without — each driven by wrk with C connections for S seconds of CT01
prefills over the residents, alternating R rounds and keeping each side's best (the machine is
shared). Prints req/s and latency of both and writes .lienthong/bench/replica.json.

On one machine both servers share its cores, so this measures the cost of the routing (a second
connection per request, the health task) rather than the capacity a replica on its own host adds.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import httpx

from bench.bench_etl import _option
from lienthong.settings import Settings
from lienthong.standby import replicated_pair
from tests.net import LIENTHONG, free_port, lienthong_serve

ROOT = Path(__file__).resolve().parent.parent
# wrk: every request the CT01 prefill trusted document (answered by its compiled plan), for the
# next resident in the list.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
wrk.headers["X-Purpose"] = "CT01"
local ids = {IDS}
local n = 0
request = function()
  n = n + 1
  local body = '{"operationName":"PrefillCT01","variables":{"subject":"'
    .. ids[(n % #ids) + 1] .. '"}}'
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.1f %.1f\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _run(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout


def _load(primary_url: str, work: Path, residents: int) -> list[str]:
    env = {**os.environ, "LIENTHONG_DATABASE_URL": primary_url}
    lienthong = str(LIENTHONG)
    _run([lienthong, "etl", "synth", "--residents", str(residents), "--enterprises", "10",
          "--parcels", "10", "--out", str(work), "--seed", "7"], env)  # fmt: skip
    _run([lienthong, "etl", "load", "residents", str(work / "residents.csv")], env)
    _run([lienthong, "etl", "load", "agreements", str(ROOT / "infra/sample/policy.json")], env)
    with (work / "residents.csv").open(encoding="utf-8") as handle:
        return [row["personal_id"] for row in csv.DictReader(handle)]


def _wrk(url: str, script: Path, *, seconds: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"{url}/graphql"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    requests, bad_status, socket_errors, p50, p99 = found.groups()
    if int(bad_status) or int(socket_errors):
        raise RuntimeError(f"{bad_status} non-2xx answers, {socket_errors} socket errors")
    return {"req_per_s": int(requests) / seconds, "p50_ms": float(p50), "p99_ms": float(p99)}


def _check_prefill(url: str, token: str, subject: str) -> None:
    answer = httpx.post(
        f"{url}/graphql",
        json={"operationName": "PrefillCT01", "variables": {"subject": subject}},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": "CT01"},
    ).json()  # fmt: skip
    if answer.get("data", {}).get("prefill") is None:
        raise RuntimeError(f"the prefill did not answer: {answer}")


def main(argv: list[str]) -> None:
    residents = _option(argv, "--residents", 5000)
    seconds = _option(argv, "--seconds", 10)
    connections = _option(argv, "--connections", 16)
    rounds = _option(argv, "--rounds", 2)
    settings = Settings()
    with (
        tempfile.TemporaryDirectory(prefix="lt-bench-replica-") as folder,
        replicated_pair(Path(folder), primary_port=free_port(), replica_port=free_port()) as (
            primary,
            replica,
        ),
    ):
        work = Path(folder)
        ids = _load(primary.settings.libpq_url, work / "sample", residents)
        base = {
            **os.environ,
            "LIENTHONG_HOME": str(work / "home"),
            "LIENTHONG_DATABASE_URL": primary.settings.libpq_url,
            "LIENTHONG_RATE_LIMIT_PER_SECOND": "1000000",
            "LIENTHONG_RATE_LIMIT_BURST": "1000000",
            "LIENTHONG_LOG_LEVEL": "ERROR",
        }
        sides = {
            "primary": base,
            "replica": {**base, "LIENTHONG_DATABASE_REPLICA_URLS": replica.settings.libpq_url},
        }
        token = _run(
            [str(LIENTHONG), "dev", "token", "--agency", "motcua-danang", "--ttl", "3600"],
            base,
        ).strip()
        script = work / "prefill.lua"
        sample = ids[:: max(1, len(ids) // 1000)]
        script.write_text(
            WRK_SCRIPT.replace("TOKEN", token).replace(
                "{IDS}", "{" + ",".join(f'"{i}"' for i in sample) + "}"
            ),
            encoding="utf-8",
        )
        best: dict[str, dict[str, float]] = {}
        for _ in range(rounds):
            for side, env in sides.items():
                with lienthong_serve(env) as url:
                    _check_prefill(url, token, sample[0])
                    _wrk(url, script, seconds=2, connections=connections)  # warm caches, JIT
                    figures = _wrk(url, script, seconds=seconds, connections=connections)
                if figures["req_per_s"] > best.get(side, {}).get("req_per_s", 0):
                    best[side] = figures
    ratio = best["replica"]["req_per_s"] / best["primary"]["req_per_s"]
    result = {
        "residents": residents,
        "seconds": seconds,
        "connections": connections,
        "rounds": rounds,
        "workers": 1,
        **{f"{side}_{key}": round(v, 1) for side, f in best.items() for key, v in f.items()},
        "replica_over_primary": round(ratio, 2),
    }
    for name, value in result.items():
        print(f"{name:>28}: {value}")
    target = settings.home / "bench"
    target.mkdir(parents=True, exist_ok=True)
    (target / "replica.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
