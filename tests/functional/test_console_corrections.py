"""The console's corrections pages with real sign-in at the OIDC stand-in: a citizen reports a
wrong value at `/me/corrections` (bad input shown at its input, nothing recorded), a steward of
another registry is refused the decision with the scope named, the population steward rejects
it with a reason, and the citizen reads the reason; every view is in the access log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import console, factories
from tests.console import csrf_of, invalid_inputs, table_rows, text_of
from tests.graphql_world import SAMPLE_POLICY

REASON = "Sổ hộ tịch ghi đúng như trong cơ sở dữ liệu"


@pytest.fixture(scope="module")
async def citizen_id(committed_database_url: str) -> str:
    engine = create_engine(Settings(database_url=committed_database_url), pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            return (await factories.make_resident(session, full_name="Đỗ Văn Cường")).personal_id
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def console_users(citizen_id: str) -> list[dict[str, Any]]:
    people = {"hoa": ("steward-hoa", ["steward", "steward:population"]),
              "dat": ("steward-dat", ["steward", "steward:land"])}  # fmt: skip
    return [*console.stewards(people), console.citizen("cuong", citizen_id)]


async def _signed_in(
    browser: Callable[[], httpx.AsyncClient], username: str, home: str
) -> httpx.AsyncClient:
    http = browser()
    await console.sign_in(http, username, home=home)
    return http


def _reads(settings: Settings, citizen_id: str) -> list[str]:
    with psycopg.connect(settings.libpq_url) as connection:
        rows = connection.execute(
            "SELECT decision->>'read' FROM access_log WHERE subject_id = %s ORDER BY seq",
            (citizen_id,),
        ).fetchall()
    return [str(read) for (read,) in rows]


async def test_reported_at_me_rejected_at_the_console_reason_shown(
    browser: Callable[[], httpx.AsyncClient], console_settings: Settings, citizen_id: str
) -> None:
    me = await _signed_in(browser, "cuong", "/me")
    page = await me.get("/me/corrections")
    assert page.status_code == 200, page.text
    assert 'for="field"' in page.text and 'for="explanation"' in page.text
    empty = await me.post("/me/corrections", data={"csrf": csrf_of(page), "field": "religion",
                                                   "explanation": "  "})  # fmt: skip
    assert empty.status_code == 422
    assert invalid_inputs(empty) == {"explanation"}
    assert "CORRECTION_EXPLANATION_EMPTY" in text_of(empty)
    forged = await me.post(
        "/me/corrections",
        data={"csrf": "forged", "field": "religion", "explanation": "Tôi không theo đạo"},
    )
    assert forged.status_code == 403
    sent = await me.post("/me/corrections", data={"csrf": csrf_of(page), "field": "religion",
                                                  "explanation": "Tôi không theo đạo"})  # fmt: skip
    assert sent.status_code == 303
    listed = await me.get("/me/corrections?lang=en")
    (row,) = table_rows(listed, "corrections")
    assert row[1] == "Tôi không theo đạo" and row[3].startswith("reported")

    land = await _signed_in(browser, "dat", "/console")
    queue = await land.get("/console/corrections")
    (item,) = [r for r in table_rows(queue, "corrections") if r[1] == citizen_id]
    one = await land.get(f"/console/corrections/{item[0]}")
    assert "religion" in text_of(one)
    refused = await land.post(f"/console/corrections/{item[0]}/reject",
                              data={"csrf": csrf_of(one), "reason": REASON})  # fmt: skip
    assert refused.status_code == 403
    assert "population" in text_of(refused)

    hoa = await _signed_in(browser, "hoa", "/console")
    one = await hoa.get(f"/console/corrections/{item[0]}")
    rejected = await hoa.post(f"/console/corrections/{item[0]}/reject",
                              data={"csrf": csrf_of(one), "reason": REASON})  # fmt: skip
    assert rejected.status_code == 303
    after = await me.get("/me/corrections")
    (row,) = table_rows(after, "corrections")
    assert REASON in row[3]
    reads = _reads(console_settings, citizen_id)
    assert reads.count("myCorrections") == 4  # each view of /me/corrections, refusals included
    assert "console correction" in reads  # the stewards' views, under the citizen
