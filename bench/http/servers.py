"""The servers `python -m bench http` measures, each in its own process group, and the CPU time
of a process tree (a server and its workers, the database cluster) read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.net import LIENTHONG

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
POSTGRAPHILE_DIR = BENCH / "postgraphile"
TICKS = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds of a process and of each of its live descendants, by pid."""
    tree, found, pending = _children(), {}, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[current] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
        pending.extend(tree.get(current, []))
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds a process tree used between two readings. A process that started meanwhile
    counts from zero; one that ended meanwhile is lost (a PostgreSQL backend closing) rather
    than subtracted."""
    return sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in after.items())


@dataclass
class Server:
    """A server started in its own session, so that stopping it stops its workers too."""

    name: str
    command: list[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, timeout: float = 90.0) -> None:
        log = (log_dir / f"{self.name}.log").open("wb")
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited at start; see {log.name}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                    if answer.status < 500:
                        return
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"{self.name} did not answer on {self.url} within {timeout:.0f} s")

    def cpu_seconds(self) -> dict[int, float]:
        return tree_cpu_seconds(self.process.pid) if self.process is not None else {}

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def floor(port: int, dsn: str, workers: int) -> Server:
    return Server(
        name="floor",
        command=[sys.executable, "-m", "uvicorn", "bench.http.floor:app", "--port", str(port),
                 "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        port=port,
        ready_path="/residents/000000000000",
        env={"BENCH_FLOOR_DSN": dsn},
    )  # fmt: skip


def postgraphile(port: int, dsn: str, workers: int) -> Server:
    """PostGraphile 4 (Node 20 runs it; 5 needs Node 22) over the peer schema, one Node process
    per worker like the others."""
    return Server(
        name="postgraphile",
        command=[str(POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile"),
                 "--connection", dsn, "--schema", "bench_peer", "--port", str(port),
                 "--host", "127.0.0.1", "--cluster-workers", str(workers),
                 "--disable-query-log", "--disable-graphiql"],
        port=port,
        ready_path="/graphql",
        cwd=POSTGRAPHILE_DIR,
    )  # fmt: skip


def gateway(name: str, port: int, dsn: str, workers: int, *, plans: bool = True) -> Server:
    """The gateway as deployed (`lienthong serve`), on the bench's database; the per-agency quota
    is lifted (it is still charged on every request) so that it does not cap the measurement.
    `plans=False` runs it with the generic executor alone (LIENTHONG_GRAPHQL_PLANS=false)."""
    return Server(
        name=name,
        command=[str(LIENTHONG), "serve", "--port", str(port),
                 "--workers", str(workers)],
        port=port,
        ready_path="/healthz",
        env={
            "LIENTHONG_DATABASE_URL": dsn,
            "LIENTHONG_RATE_LIMIT_PER_SECOND": "1000000",
            "LIENTHONG_RATE_LIMIT_BURST": "1000000",
            "LIENTHONG_LOG_LEVEL": "WARNING",
            "LIENTHONG_GRAPHQL_PLANS": "true" if plans else "false",
            "LIENTHONG_OFFICER_ASSERTION_MAX_SECONDS": "3600",  # the bench signs one for the run
            **{k: v for k, v in os.environ.items() if k.startswith("LIENTHONG_DOSSIER_")},
        },
    )  # fmt: skip
