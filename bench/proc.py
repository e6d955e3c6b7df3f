"""CPU time of this host's processes from Linux's /proc: what a benchmark's processes and the
database backends serving it spent, which a busy machine slows down but does not inflate."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User and system CPU seconds each of these processes has used so far (a process gone is
    left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def backends(database: str) -> list[int]:
    """This host's PostgreSQL backends serving `database` (their process title names it:
    `postgres: user database host(port) state`); none when the server is elsewhere."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        if len(words) >= 3 and words[0] == b"postgres:" and words[2] == database.encode():
            found.append(int(entry.name))
    return found
