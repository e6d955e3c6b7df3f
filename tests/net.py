"""Loopback helpers for tests (and benchmarks) that start servers."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.signing.keys import make_dev_key

LIENTHONG = Path(sys.executable).parent / "lienthong"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answer_key(folder: Path) -> str:
    """The path of a key to sign answers with, as an operator provides one to a gateway in
    prod, which refuses to start without (docs/evidence.md)."""
    path = folder / "answer-signing-key.json"
    make_dev_key(path)
    return str(path)


class ServerDidNotStart(RuntimeError):  # noqa: N818 - what happened, said plainly
    """`lienthong serve` exited, or did not become ready in time."""


@contextmanager
def lienthong_serve(
    env: Mapping[str, str], *, workers: int = 1, timeout: float = 60.0, port: int | None = None
) -> Iterator[str]:
    """A real `lienthong serve` (uvicorn) on a free loopback port (or `port`, when its URL must
    be known before it starts), ready (`/readyz` 200) when its base URL is yielded, and stopped
    afterwards."""
    port = port or free_port()
    process = subprocess.Popen(
        [str(LIENTHONG), "serve", "--port", str(port), "--workers", str(workers)],
        env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise ServerDidNotStart(f"lienthong serve did not become ready on {url}")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
