"""The pieces of `python -m bench http`, cheaply: the floor app under uvicorn, driven for a second
by wrk through the bench's Lua script, and the figures read from the script's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.http import servers
from bench.http.load import Figures, Lookup, figures_of, gateway_allowance, run_wrk
from lienthong import models  # noqa: F401 - every mapped table, for the residents' foreign keys
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories
from tests.net import free_port


async def test_the_floor_answers_every_request_wrk_sends(
    committed_database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(Settings(database_url=committed_database_url), pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            resident = await factories.make_resident(session, full_name="Nguyễn Văn An")
    finally:
        await engine.dispose()
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{resident.personal_id}\n", encoding="utf-8")
    floor = servers.floor(free_port(), committed_database_url, workers=1)
    floor.start(tmp_path)
    try:
        figures = run_wrk(
            floor.url,
            Lookup("GET", "/residents/{ID}", '"full_name":"Nguyễn Văn An"'),
            ids_file=ids,
            prefix="t",
            seconds=1,
            connections=2,
            threads=1,
            server_cpu=floor.cpu_seconds,
            database_cpu=None,
        )
    finally:
        floor.stop()
    assert figures.good > 0
    assert figures.errors == 0
    assert figures.requests_per_s > 0
    assert figures.server_cpu > 0
    assert figures.p50_ms <= figures.p99_ms


def test_the_report_counts_bad_answers_and_socket_errors_as_errors() -> None:
    report = (
        '{"requests": 100, "duration_us": 2000000, "ok": 97, "bad": 3, "connect": 0, "read": 1, '
        '"write": 0, "status": 3, "timeout": 2, "p50_us": 1500, "p90_us": 4000, "p99_us": 9000, '
        '"max_us": 12000}\nid-1\nid-2\n'
    )
    figures = figures_of(report, server_cpu=3.0, load_cpu=0.5, database_cpu=None)
    assert figures.requests_per_s == 50
    assert figures.errors == 6  # 3 bad answers (the 3 non-2xx among them), 1 read, 2 timeouts
    assert (figures.p50_ms, figures.p99_ms) == (1.5, 9.0)
    assert (figures.server_cpu, figures.load_cpu) == (1.5, 0.25)
    assert figures.answered == ("id-1", "id-2")


def test_cpu_of_a_process_tree_ignores_processes_that_ended() -> None:
    before = {1: 2.0, 2: 5.0, 3: 1.0}
    after = {1: 2.5, 3: 1.25, 4: 0.5}  # 2 ended, 4 started
    assert servers.cpu_used(before, after) == 1.25


def test_a_request_spec_holds_one_line_per_part() -> None:
    lookup = Lookup("POST", "/graphql", '"prefill":{', body='{"v":{IDS}}', per_request=2,
                    headers={"X-Purpose": "CT01"})  # fmt: skip
    assert lookup.spec() == 'POST\n/graphql\n{"v":{IDS}}\n"prefill":{\n2\nX-Purpose: CT01\n'
    with pytest.raises(ValueError, match="newline"):
        Lookup("GET", "/x", "a\nb").spec()


def _figures(requests_per_s: float, server: float, wrk: float, database: float | None) -> Figures:
    return Figures(requests_per_s, 1.0, 2.0, 0, int(requests_per_s), server, wrk, database)


def test_cpu_per_request_divides_cores_by_throughput() -> None:
    figures = _figures(2000, server=1.0, wrk=0.1, database=0.5)
    assert figures.cpu_ms_per_request() == pytest.approx(
        {"server": 0.5, "wrk": 0.05, "database": 0.25}
    )
    assert "database" not in _figures(2000, 1.0, 0.1, None).cpu_ms_per_request()


def test_the_gateway_allowance_is_what_the_machine_leaves_after_the_prefills_own_work() -> None:
    floor = _figures(5000, server=1.0, wrk=0.2, database=0.6)  # 0.2 ms of server per request
    prefill = _figures(1000, server=1.4, wrk=0.1, database=0.4)  # 1.4, 0.1 and 0.4 ms
    allowance = gateway_allowance(floor, prefill, cores=2, target=0.6)
    assert allowance == pytest.approx(
        {
            "target_vs_floor": 0.6,
            "machine_cpu_ms_per_request_at_target": 2 * 1000 / 3000,  # 3,000 req/s on 2 cores
            "prefill_database_and_wrk_cpu_ms": 0.5,
            "server_cpu_ms_allowed": 2 / 3 - 0.5,
            "server_cpu_ms_of_prefill": 1.4,
            "server_cpu_ms_of_floor": 0.2,
        },
        abs=1e-3,
    )
    assert gateway_allowance(floor, _figures(1000, 1.4, 0.1, None), cores=2, target=0.6) is None
