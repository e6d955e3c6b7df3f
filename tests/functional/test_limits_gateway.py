"""Limits that hold across processes, through the real thing: `lienthong serve --workers 2`
(two uvicorn worker processes sharing one socket) hammered over HTTP. Together the workers
admit no more than the bounds docs/limits.md states, for an agency's rate and for an agreement's
daily quota."""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories
from tests.graphql_world import SAMPLE_POLICY
from tests.net import lienthong_serve

WORKERS = 2
RATE, BURST, SLICE_SECONDS = 5.0, 5, 0.1
PUBLIC = '{ adminUnit(code: "48") { name } }'
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName } }"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("limits-home")


@pytest.fixture(scope="module")
async def residents(committed_database_url: str, home: Path) -> list[str]:
    settings = Settings(database_url=committed_database_url, home=home)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            made = [await factories.make_resident(session) for _ in range(40)]
    finally:
        await engine.dispose()
    return [r.personal_id for r in made]


def _env(url: str, home: Path, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "LIENTHONG_DATABASE_URL": url,
        "LIENTHONG_HOME": str(home),
        "LIENTHONG_LOG_LEVEL": "WARNING",
        "LIENTHONG_ALERT_SCAN_SECONDS": "0",
        **more,
    }


async def _storm(
    url: str, token: str, bodies: list[dict[str, object]], *, purpose: str | None, parallel: int
) -> list[httpx.Response]:
    """Every body posted, `parallel` at a time, each on a connection of its own (so that both
    workers get requests)."""
    headers = {"Authorization": f"Bearer {token}", **({"X-Purpose": purpose} if purpose else {})}
    gate = asyncio.Semaphore(parallel)

    async def one(body: dict[str, object]) -> httpx.Response:
        async with gate, httpx.AsyncClient(base_url=url, timeout=30) as client:
            return await client.post("/graphql", json=body, headers=headers)

    return list(await asyncio.gather(*(one(body) for body in bodies)))


async def test_two_workers_together_keep_to_the_agency_rate(
    committed_database_url: str, home: Path, residents: list[str]
) -> None:
    env = _env(
        committed_database_url, home,
        LIENTHONG_RATE_LIMIT_PER_SECOND=str(RATE), LIENTHONG_RATE_LIMIT_BURST=str(BURST),
        LIENTHONG_RATE_SLICE_SECONDS=str(SLICE_SECONDS),
    )  # fmt: skip
    token = DevIssuer(Settings(home=home)).mint(agency="tainguyen-danang")
    with lienthong_serve(env, workers=WORKERS) as url:
        started = time.monotonic()
        answers: list[httpx.Response] = []
        elapsed = 0.0
        # At least 3 s, and until far more was asked than the limit allows (twice the allowance):
        # a loaded machine sends fewer requests per second, and this is about the limit, not it
        while elapsed < 3.0 or (
            len(answers) < 2 * (BURST + RATE * elapsed + WORKERS * SLICE_SECONDS * RATE)
            and elapsed < 30.0
        ):
            answers += await _storm(url, token, [{"query": PUBLIC}] * 16, purpose=None, parallel=8)
            elapsed = time.monotonic() - started
    admitted = sum(a.status_code == 200 for a in answers)
    refused = [a for a in answers if a.status_code == 429]
    assert admitted + len(refused) == len(answers), {a.status_code for a in answers}
    slice_size = max(1, math.ceil(RATE * SLICE_SECONDS))
    # docs/limits.md: from a full bucket, at most burst + rate x T (+ one slice per process
    # leased before the interval: none here); a shared bucket, not one per worker
    assert admitted <= BURST + RATE * elapsed + WORKERS * slice_size, (admitted, elapsed)
    assert admitted >= BURST + RATE * elapsed * 0.5 - WORKERS * slice_size, (admitted, elapsed)
    assert len(refused) > len(answers) // 2  # far more was asked than allowed
    assert all(r.json()["errors"][0]["extensions"]["retryAfter"] >= 1 for r in refused)


async def test_two_workers_together_keep_to_an_agreements_daily_quota(
    committed_database_url: str, home: Path, residents: list[str]
) -> None:
    quota, parallel = 10, 4
    agreement = "motcua-danang/CT01/Resident"
    with psycopg.connect(committed_database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE agreements SET daily_quota = %s WHERE agreement_id = %s AND valid_to IS NULL",
            (quota, agreement),
        )
        connection.execute("DELETE FROM quota_usage WHERE agency = 'motcua-danang'")
    slice_size = 2
    env = _env(committed_database_url, home, LIENTHONG_QUOTA_SLICE=str(slice_size))
    token = DevIssuer(Settings(home=home)).mint(agency="motcua-danang")
    bodies: list[dict[str, object]] = [
        {"query": RESIDENT, "variables": {"id": key}} for key in residents[:30]
    ]
    with lienthong_serve(env, workers=WORKERS) as url:
        answers = await _storm(url, token, bodies, purpose="CT01", parallel=parallel)
    disclosed = [a for a in answers if a.status_code == 200 and a.json()["data"]["resident"]]
    refused = [a for a in answers if a.status_code == 429]
    assert len(disclosed) + len(refused) == len(answers)
    # docs/limits.md: at most the quota plus, per process, the requests in flight when its
    # allowance ran out, less one (one subject per request here); at least the quota less the
    # slices the other processes may hold unspent
    most, least = quota + WORKERS * (parallel - 1), quota - (WORKERS - 1) * slice_size
    assert least <= len(disclosed) <= most, len(disclosed)
    assert {r.json()["errors"][0]["extensions"]["agreement"] for r in refused} == {agreement}
    with psycopg.connect(committed_database_url) as connection:
        row = connection.execute(
            "SELECT disclosed FROM quota_usage WHERE agency = 'motcua-danang' "
            "AND purpose = 'CT01' AND subject_type = 'resident'"
        ).fetchone()
    assert row is not None and row[0] == len(disclosed)  # the group commit counted exactly those
