"""`lienthong db up|status|down` on a cluster of its own (another home and port), twice in a row."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net import LIENTHONG, free_port


@pytest.fixture
def cluster_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "LIENTHONG_DATABASE_URL"}
    env["LIENTHONG_HOME"] = str(tmp_path / "home")
    env["LIENTHONG_DATABASE_PORT"] = str(free_port())
    yield env
    subprocess.run([str(LIENTHONG), "db", "down"], env=env, capture_output=True, check=False)
    link = tmp_path / "home" / "pg"
    if link.is_symlink():
        shutil.rmtree(link.resolve(), ignore_errors=True)


def _lienthong(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LIENTHONG), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_up_status_down_twice(cluster_env: dict[str, str]) -> None:
    port = cluster_env["LIENTHONG_DATABASE_PORT"]
    for _ in range(2):
        up = _lienthong(cluster_env, "db", "up")
        assert up.returncode == 0, up.stderr
        assert f"127.0.0.1:{port}" in up.stderr
        again = _lienthong(cluster_env, "db", "up")  # idempotent while running
        assert again.returncode == 0, again.stderr
        status = _lienthong(cluster_env, "db", "status")
        assert status.returncode == 0, status.stderr
        assert "running: PostgreSQL 15" in status.stderr
        down = _lienthong(cluster_env, "db", "down")
        assert down.returncode == 0, down.stderr
        assert "stopped" in down.stderr
        stopped = _lienthong(cluster_env, "db", "status")
        assert stopped.returncode == 3
        assert "not running" in stopped.stderr


def test_status_before_init_says_how_to_start(cluster_env: dict[str, str]) -> None:
    result = _lienthong(cluster_env, "db", "status")
    assert result.returncode == 3
    assert "lienthong db up" in result.stderr


def test_db_commands_refuse_an_external_database(cluster_env: dict[str, str]) -> None:
    env = dict(cluster_env, LIENTHONG_DATABASE_URL="postgresql://x@127.0.0.1:1/x")
    result = _lienthong(env, "db", "up")
    assert result.returncode == 2
    assert "LIENTHONG_DATABASE_URL is set" in result.stderr


def test_a_fresh_checkout_at_the_same_path_reuses_its_cluster(
    cluster_env: dict[str, str],
) -> None:
    home = Path(cluster_env["LIENTHONG_HOME"])
    assert _lienthong(cluster_env, "db", "up").returncode == 0
    assert _lienthong(cluster_env, "db", "down").returncode == 0
    kept = (home / "pg").resolve()
    if (home / "pg").is_symlink():  # the cluster lives outside the checkout: lose the link only
        (home / "pg").unlink()
        shutil.rmtree(home)
    again = _lienthong(cluster_env, "db", "up")
    assert again.returncode == 0, again.stderr
    assert (home / "pg").resolve() == kept
