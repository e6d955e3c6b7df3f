"""The console's operations pages through HTTP: agencies (registered, suspended, reactivated by
a second administrator, their officer-assertion keys), bulk-access alerts, consents (searched,
a paper consent recorded), registry loads (the guard's report, a stopped load accepted, a
rollback) and the access log (searched, paginated, exported as CSV) — the whole gateway app in
process on its own committed database, stewards signed in at the real OIDC stand-in
(tests/oidc), each browser its own cookie jar.

Each page in both languages; who may do what (a registry's steward cannot decide for the
platform; a plain steward cannot accept a load); bad input shown at its input; the services'
refusals in their words; every page that shows personal data recorded in the access log."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from etl.guard import ChangesRefused
from etl.pipeline import load
from etl.synth import SynthOptions, synthesize
from gateway.alerts.models import AccessAlert
from gateway.audit.writer import AuditUnavailable, Disclosure
from gateway.console.messages import MESSAGES
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.history import VIETNAM_TIME
from tests import console, factories
from tests.console import BASE, csrf_of, invalid_inputs, text_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = json.loads((ROOT / "infra" / "sample" / "policy.json").read_text(encoding="utf-8"))
STEWARDS = {  # username: (sub, realm roles)
    "lan": ("steward-lan", ["steward"]),
    "hoa": ("steward-hoa", ["steward", "steward:population"]),
    "an": ("admin-an", ["steward", "admin"]),
    "binh": ("admin-binh", ["steward", "admin"]),
}
CITIZEN_NAME = "Trịnh Văn Phúc"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"
EC_KEY = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "ops-2026-01",
    "x": "CXyXQn6zZipqgYELIfp0c0N8lZ-yd0hhxDHez5LC5w4",
    "y": "M0sVTTwB5uSv7Qal8AOEHjWrtGrkJ-uC7mDhPXrj6WI",
    "use": "sig",
    "alg": "ES256",
}


@pytest.fixture(scope="module")
async def citizen_id(committed_database_url: str) -> str:
    settings = Settings(database_url=committed_database_url)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            resident = await factories.make_resident(session, full_name=CITIZEN_NAME)
    finally:
        await engine.dispose()
    return resident.personal_id


@pytest.fixture(scope="module")
def console_users(citizen_id: str) -> list[dict[str, Any]]:
    """The stewards (tests/conftest.py starts the stand-in with them, once the data is in)."""
    return console.stewards(STEWARDS)


@pytest.fixture(scope="module")
async def stewards(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Each steward signed in once, in a browser (a cookie jar) of their own."""
    async with AsyncExitStack() as stack:
        signed_in = {}
        for name in STEWARDS:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
            stack.push_async_callback(client.aclose)
            await console.sign_in(client, name)
            signed_in[name] = client
        yield signed_in


def oversight_reads(settings: Settings, read: str, subject_id: str = "*") -> int:
    """Stewards' reads recorded in the access log (Admin.record_read) under a subject."""
    with psycopg.connect(settings.libpq_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM access_log WHERE purpose = 'oversight' AND operation = %s "
            "AND subject_id = %s",
            (read, subject_id),
        ).fetchone()
    assert row is not None
    return int(row[0])


# -- every page, both languages, labels --------------------------------------------------------

PAGES = (
    ("/console/agencies", "agencies.title"),
    ("/console/agencies/new", "agencies.new"),
    ("/console/agencies/motcua-danang", "agencies.keys"),
    ("/console/alerts", "alerts.title"),
    ("/console/consents", "consents.title"),
    ("/console/consents/paper", "consents.paper_title"),
    ("/console/etl", "etl.title"),
    ("/console/audit", "audit.title"),
)


async def test_each_page_in_both_languages_every_input_labelled(
    stewards: dict[str, httpx.AsyncClient], app: FastAPI
) -> None:
    http = stewards["lan"]
    for path, key in PAGES:
        for index, lang in enumerate(("vi", "en")):
            page = await http.get(path, params={"lang": lang})
            assert page.status_code == 200, (path, text_of(page)[:1500])
            assert f'<html lang="{lang}">' in page.text
            assert MESSAGES[key][index] in text_of(page), (path, lang)
            assert "Content-Security-Policy" in page.headers
            inputs = re.findall(
                r'<(?:input|select|textarea)\b(?![^>]*type="hidden")[^>]*>', page.text
            )
            for tag in inputs:
                if 'type="submit"' in tag:
                    continue
                found = re.search(r'id="([^"]+)"', tag)
                assert found, (path, tag)
                assert f'for="{found.group(1)}"' in page.text, (path, tag)
    # the navigation names the new pages, the current one marked
    page = await http.get("/console/audit?lang=vi")
    assert 'href="/console/audit" aria-current="page"' in page.text
    for key in ("nav.agencies", "nav.consents", "nav.etl", "nav.audit"):
        assert MESSAGES[key][0] in page.text
    # anonymous browsers are sent to sign in, from every page
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as anon:
        for path, _ in PAGES:
            assert (await anon.get(path)).headers["location"].startswith("/console/sign-in")


# -- agencies ----------------------------------------------------------------------------------


async def test_an_agency_registered_suspended_and_reactivated_by_another_administrator(
    stewards: dict[str, httpx.AsyncClient], console_settings: Settings
) -> None:
    an, binh = stewards["an"], stewards["binh"]
    form = await an.get("/console/agencies/new")
    # bad input: each error at its input, what was typed kept
    bad = await an.post("/console/agencies/new", data={
        "csrf": csrf_of(form), "client_id": "Sở Tư Pháp", "name": "", "kind": "tư pháp",
        "province": "480",
    })  # fmt: skip
    assert bad.status_code == 422
    assert invalid_inputs(bad) == {"client_id", "name", "province"}
    assert 'value="tư pháp"' in bad.text and "String should match pattern" in bad.text
    assert 'href="#client_id"' in bad.text  # the summary links to the input
    # without the form's anti-forgery token nothing happens
    forged = await an.post("/console/agencies/new", data={
        "csrf": "forged", "client_id": "tuphap-danang", "name": "Sở Tư pháp", "kind": "tư pháp",
    })  # fmt: skip
    assert forged.status_code == 403
    good = {"csrf": csrf_of(form), "client_id": "tuphap-danang", "name": "Sở Tư pháp Đà Nẵng",
            "kind": "sở tư pháp", "province": "48"}  # fmt: skip
    registered = await an.post("/console/agencies/new", data=good)
    assert registered.status_code == 303, text_of(registered)[:2000]
    assert registered.headers["location"] == "/console/agencies/tuphap-danang?done=registered"
    again = await an.post("/console/agencies/new", data=good)
    assert again.status_code == 409
    assert "agency 'tuphap-danang' is already registered (active)" in text_of(again)

    page = await an.get("/console/agencies/tuphap-danang")
    assert "Sở Tư pháp Đà Nẵng" in page.text and "đang hoạt động" in text_of(page)
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    base = "/console/agencies/tuphap-danang"
    suspended = await an.post(
        f"{base}/suspend", data={"csrf": csrf_of(page), "version": version.group(1)}
    )
    assert suspended.status_code == 303
    page = await an.get(suspended.headers["location"])
    assert 'id="suspended-by">admin-an<' in page.text
    # the administrator who suspended it may not reactivate it: four-eyes, in the service's words
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    own = await an.post("/console/agencies/tuphap-danang/reactivate",
                        data={"csrf": csrf_of(page), "version": version.group(1)})  # fmt: skip
    assert own.status_code == 403
    refusal = text_of(own)
    assert "four-eyes: admin-an proposed this reactivation of tuphap-danang" in refusal
    assert "four_eyes" in refusal
    # a stale version is refused too (the API's If-Match)
    theirs = await binh.get("/console/agencies/tuphap-danang")
    stale = await binh.post("/console/agencies/tuphap-danang/reactivate",
                            data={"csrf": csrf_of(theirs), "version": "1"})  # fmt: skip
    assert stale.status_code == 412
    assert "the resource changed since you read it" in text_of(stale)
    reactivated = await binh.post(
        f"{base}/reactivate", data={"csrf": csrf_of(theirs), "version": version.group(1)}
    )
    assert reactivated.status_code == 303
    listed = await binh.get("/console/agencies?status=active")
    assert "tuphap-danang" in listed.text
    assert "tuphap-danang" not in (await binh.get("/console/agencies?status=suspended")).text
    history = (await binh.get("/console/agencies/tuphap-danang")).text
    history = history[history.index('id="history"') :]
    assert history.count("<tr>") == 4  # header, registered, suspended, reactivated


async def test_a_registry_steward_cannot_decide_for_the_platform(
    stewards: dict[str, httpx.AsyncClient],
) -> None:
    hoa = stewards["hoa"]
    form = await hoa.get("/console/agencies/new")
    refused = await hoa.post("/console/agencies/new", data={
        "csrf": csrf_of(form), "client_id": "ubnd-hue", "name": "UBND Huế", "kind": "ủy ban",
    })  # fmt: skip
    assert refused.status_code == 403
    assert "to register an agency needs the platform's administrator (role admin)" in text_of(
        refused
    )
    assert 'value="ubnd-hue"' in refused.text  # what was typed, kept
    page = await hoa.get("/console/agencies/motcua-danang")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    suspend = await hoa.post("/console/agencies/motcua-danang/suspend",
                             data={"csrf": csrf_of(page), "version": version.group(1)})  # fmt: skip
    assert suspend.status_code == 403
    assert "to suspend an agency needs the platform's administrator" in text_of(suspend)
    assert "đang hoạt động" in text_of(await hoa.get("/console/agencies/motcua-danang"))


async def test_officer_assertion_keys_registered_refused_and_retired(
    stewards: dict[str, httpx.AsyncClient],
) -> None:
    lan = stewards["lan"]  # any steward registers keys, as the admin API lets them
    page = await lan.get("/console/agencies/thue-hcm")
    path = "/console/agencies/thue-hcm/keys"
    not_json = await lan.post(path, data={"csrf": csrf_of(page), "jwk": "{kty: EC"})
    assert not_json.status_code == 422
    assert invalid_inputs(not_json) == {"jwk"} and "not JSON" in text_of(not_json)
    private = await lan.post(path, data={"csrf": csrf_of(page), "jwk": json.dumps(
        {**EC_KEY, "d": "private-part"}
    )})  # fmt: skip
    assert private.status_code == 422
    assert invalid_inputs(private) == {"jwk"}
    assert "private" in text_of(private).lower()
    registered = await lan.post(path, data={"csrf": csrf_of(page), "jwk": json.dumps(EC_KEY)})
    assert registered.status_code == 303, text_of(registered)[:2000]
    page = await lan.get(registered.headers["location"])
    assert "ops-2026-01" in page.text and "đang dùng" in text_of(page)
    retired = await lan.post(f"{path}/ops-2026-01/retire", data={"csrf": csrf_of(page)})
    assert retired.status_code == 303
    keys = (await lan.get("/console/agencies/thue-hcm")).text
    keys = keys[keys.index('id="keys"') : keys.index("</table>", keys.index('id="keys"'))]
    assert "ops-2026-01" in keys and 'retire"' not in keys and "steward-lan" in keys


async def test_an_alert_reviewed_once_with_a_note(
    stewards: dict[str, httpx.AsyncClient], console_settings: Settings
) -> None:
    engine = create_engine(console_settings, pool_size=1)
    now = datetime.now(VIETNAM_TIME)
    try:
        async with session_factory(engine).begin() as session:
            alert = AccessAlert(
                kind="officer_volume", agency="motcua-danang", officer="can-bo-07",
                window_start=now - timedelta(hours=1), window_end=now, entries=812, subjects=790,
                measure={"subjects": 790, "threshold": 200}, raised_at=now,
            )  # fmt: skip
            session.add(alert)
            await session.flush()
            alert_id = alert.alert_id
    finally:
        await engine.dispose()
    lan, hoa = stewards["lan"], stewards["hoa"]
    page = await lan.get("/console/alerts")
    assert f'id="alert-{alert_id}"' in page.text and "can-bo-07" in page.text
    assert "threshold: 200" in page.text
    path = f"/console/alerts/{alert_id}/review"
    no_note = await lan.post(path, data={"csrf": csrf_of(page), "status": "reviewed", "note": ""})
    assert no_note.status_code == 422
    assert invalid_inputs(no_note) == {"note"}
    reviewed = await lan.post(path, data={
        "csrf": csrf_of(page), "status": "reviewed", "note": "Đợt cấp đổi thẻ hàng loạt",
    })  # fmt: skip
    assert reviewed.status_code == 303
    assert reviewed.headers["location"] == "/console/alerts?done=reviewed"
    assert f'id="alert-{alert_id}"' not in (await lan.get("/console/alerts")).text  # not open
    closed = await lan.get("/console/alerts?status=reviewed")
    assert "Đợt cấp đổi thẻ hàng loạt" in closed.text and "steward-lan" in closed.text
    theirs = await hoa.get("/console/alerts?status=reviewed")
    twice = await hoa.post(path, data={"csrf": csrf_of(theirs), "status": "dismissed",
                                       "note": "x"})  # fmt: skip
    assert twice.status_code == 409
    assert "the alert is already reviewed" in text_of(twice)


# -- consents ----------------------------------------------------------------------------------


async def test_a_paper_consent_recorded_and_found_each_view_logged(
    stewards: dict[str, httpx.AsyncClient], citizen_id: str, console_settings: Settings
) -> None:
    lan = stewards["lan"]
    form = await lan.get("/console/consents/paper")
    assert 'id="field-fullName"' in form.text  # the resident's fields, from the schema
    yesterday = (datetime.now(VIETNAM_TIME).date() - timedelta(days=2)).isoformat()
    bad = await lan.post("/console/consents/paper", data={
        "csrf": csrf_of(form), "subject_id": "12345", "agency": "nganhang-abc",
        "purpose": "TD-VAY", "expires_at": "mai", "officer": "cb 01", "document_reference": "",
    })  # fmt: skip
    assert bad.status_code == 422
    assert invalid_inputs(bad) == {"subject_id", "fields", "expires_at", "officer",
                                   "document_reference"}  # fmt: skip
    assert 'value="nganhang-abc" selected' in bad.text  # kept
    past = await lan.post("/console/consents/paper", data={
        "csrf": csrf_of(form), "subject_id": citizen_id, "agency": "nganhang-abc",
        "purpose": "TD-VAY", "fields": ["fullName", "birthDate"], "expires_at": yesterday,
        "officer": "cb-01", "document_reference": "PDY-2026-0042",
    })  # fmt: skip
    assert past.status_code == 422
    assert "expires_at: must be in the future" in text_of(past)  # the service's words
    assert invalid_inputs(past) == {"expires_at"}
    assert 'id="field-birthDate" name="fields" value="birthDate" checked' in past.text

    views = oversight_reads(console_settings, "consents", citizen_id)
    next_year = (datetime.now(VIETNAM_TIME).date() + timedelta(days=365)).isoformat()
    recorded = await lan.post("/console/consents/paper", data={
        "csrf": csrf_of(form), "subject_id": citizen_id, "agency": "nganhang-abc",
        "purpose": "TD-VAY", "fields": ["fullName", "birthDate"], "expires_at": next_year,
        "officer": "cb-01", "document_reference": "PDY-2026-0042",
    })  # fmt: skip
    assert recorded.status_code == 303, text_of(recorded)[:2000]
    found = await lan.get(recorded.headers["location"])
    assert found.status_code == 200
    rows = found.text[found.text.index('id="consents"') :]
    assert citizen_id in rows and "nganhang-abc" in rows and "fullName, birthDate" in rows
    assert "PDY-2026-0042" in rows and "tại quầy (giấy)" in rows
    assert "Đã ghi nhận sự đồng ý" in found.text
    # the page showed a resident's consents: a disclosure under that resident
    assert oversight_reads(console_settings, "consents", citizen_id) == views + 1
    by_agency = await lan.get("/console/consents", params={"agency": "nganhang-abc"})
    assert citizen_id in by_agency.text
    assert oversight_reads(console_settings, "consents") >= 1  # no one subject: `*`

    # bad searches show the error and read (and log) nothing
    before = oversight_reads(console_settings, "consents", citizen_id)
    wrong = await lan.get("/console/consents", params={"subject_id": "0790", "agency": ""})
    assert wrong.status_code == 422 and invalid_inputs(wrong) == {"subject_id"}
    empty = await lan.get("/console/consents", params={"subject_id": "", "agency": ""})
    assert empty.status_code == 422
    assert "list consents by subject_id or by agency (or both)" in text_of(empty)
    assert oversight_reads(console_settings, "consents", citizen_id) == before
    opened = await lan.get("/console/consents")  # the form alone reads nothing
    assert opened.status_code == 200 and 'id="consents"' not in opened.text


# -- the access log ------------------------------------------------------------------------------


def _csv_rows(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text[:2000]
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


def _entry_ids(page: httpx.Response) -> list[str]:
    table = page.text[page.text.index('id="entries"') :]
    table = table[: table.index("</table>")]
    return re.findall(r"<tr>\s*<td>(\d+)</td>", table)


def _subjects(page: httpx.Response) -> list[str]:
    """The subjects of the page's rows, in the page's order (newest first)."""
    table = page.text[page.text.index('id="entries"') :]
    return re.findall(r"<td>resident (\w+)</td>", table[: table.index("</table>")])


async def test_the_access_log_searched_paged_exported_and_each_search_logged(
    stewards: dict[str, httpx.AsyncClient], app: FastAPI, citizen_id: str,
    console_settings: Settings,
) -> None:  # fmt: skip
    http = stewards["hoa"]
    # 55 entries of one agency (more than a page), and a real disclosure of the citizen
    await app.state.services.audit.record([
        Disclosure(request_id=uuid.uuid4().hex, agency="phantrang-test", subject_type="resident",
                   subject_id=f"0010{n:08d}", purpose="CT01", operation="resident",
                   fields_given=("fullName",), decision={"outcome": "disclosed"})
        for n in range(55)
    ])  # fmt: skip
    token = DevIssuer(console_settings).mint(agency="motcua-danang")
    answer = await http.post(
        "/graphql", json={"query": RESIDENT, "variables": {"id": citizen_id}},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": "CT01"},
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["data"]["resident"]["fullName"]

    first = await http.get("/console/audit", params={"agency": "phantrang-test"})
    assert first.status_code == 200
    page_one = _entry_ids(first)
    assert len(page_one) == 50
    following = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert following
    second = await http.get(html.unescape(following.group(1)))
    page_two = _entry_ids(second)
    assert len(page_two) == 5 and not set(page_one) & set(page_two)
    assert 'id="next-page"' not in second.text
    exported = _csv_rows(await http.get("/console/audit/export.csv",
                                        params={"agency": "phantrang-test"}))  # fmt: skip
    # the CSV holds the pages' rows, oldest first (the pages: newest first)
    paged = _subjects(first) + _subjects(second)
    assert len(set(paged)) == 55
    assert [r["subject_id"] for r in exported] == paged[::-1]
    assert {r["agency"] for r in exported} == {"phantrang-test"}

    # by subject, period and outcome: the page's rows are the CSV's
    today = datetime.now(VIETNAM_TIME).date().isoformat()
    where = {"agency": "motcua-danang", "purpose": "CT01", "subject_type": "resident",
             "subject_id": citizen_id, "outcome": "disclosed", "since": today,
             "until": today}  # fmt: skip
    searches = oversight_reads(console_settings, "audit.search", citizen_id)
    exports = oversight_reads(console_settings, "audit.export", citizen_id)
    found = await http.get("/console/audit", params=where)
    assert found.status_code == 200
    shown = _entry_ids(found)
    assert len(shown) == 1 and citizen_id in found.text and "fullName" in found.text
    rows = _csv_rows(await http.get("/console/audit/export.csv", params=where))
    assert [r["subject_id"] for r in rows] == _subjects(found) == [citizen_id]
    assert rows[0]["subject_id"] == citizen_id and rows[0]["agency"] == "motcua-danang"
    # each search and export of the subject is a disclosure the citizen sees
    assert oversight_reads(console_settings, "audit.search", citizen_id) == searches + 1
    assert oversight_reads(console_settings, "audit.export", citizen_id) == exports + 1
    yesterday = (datetime.now(VIETNAM_TIME).date() - timedelta(days=1)).isoformat()
    earlier = await http.get("/console/audit", params={**where, "until": yesterday,
                                                       "since": yesterday})  # fmt: skip
    assert 'id="no-entries"' in earlier.text

    # bad filters: each at its input, nothing searched, nothing logged
    bad = await http.get("/console/audit", params={
        "agency": "Bộ Công An", "outcome": "leaked", "since": "2026-13-01", "subject_id": "a b",
        "until": "",
    })  # fmt: skip
    assert bad.status_code == 422
    assert invalid_inputs(bad) == {"agency", "outcome", "since", "subject_id"}
    assert "is not a date" in text_of(bad) and 'id="entries"' not in bad.text
    bad_export = await http.get("/console/audit/export.csv", params={"outcome": "leaked"})
    assert bad_export.status_code == 422 and invalid_inputs(bad_export) == {"outcome"}
    assert oversight_reads(console_settings, "audit.search", citizen_id) == searches + 2


# -- registry loads ------------------------------------------------------------------------------


async def stopped_load(settings: Settings, tmp_path: Path, *, seed: int) -> tuple[int, int]:
    """A first fill of 300 synthetic residents, then a re-export renaming a third of them, which
    the change-rate guard stops: (the first run's id, the stopped run's id)."""
    sample = tmp_path / "sample"
    await asyncio.to_thread(synthesize, SynthOptions(residents=300, enterprises=0, parcels=0,
                                                     out=sample, seed=seed))  # fmt: skip
    first = await asyncio.to_thread(
        load, settings=settings, target="residents", path=sample / "residents.csv"
    )
    renamed = tmp_path / "renamed.csv"
    with (sample / "residents.csv").open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    for number, record in enumerate(records):
        if number % 3 == 0:
            record["full_name"] = f"{record['full_name']} Ngọc"
    with renamed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    with pytest.raises(ChangesRefused):
        await asyncio.to_thread(load, settings=settings, target="residents",
                                path=renamed)  # fmt: skip
    with psycopg.connect(settings.libpq_url) as connection:
        row = connection.execute("SELECT max(run_id) FROM etl_runs").fetchone()
    assert row is not None
    return first.run_id, int(row[0])


async def test_a_stopped_load_accepted_by_its_registry_steward_then_rolled_back(
    stewards: dict[str, httpx.AsyncClient], console_settings: Settings, tmp_path: Path
) -> None:
    first_run, stopped = await stopped_load(console_settings, tmp_path, seed=11)

    lan, hoa = stewards["lan"], stewards["hoa"]
    runs = await lan.get("/console/etl")
    waiting = runs.text[runs.text.index('id="waiting-runs"') :]
    assert f'href="/console/etl/{stopped}"' in waiting[: waiting.index("</ul>")]
    assert f'href="/console/etl/{first_run}"' in runs.text
    page = await lan.get(f"/console/etl/{stopped}")
    guard = page.text[page.text.index('id="guard"') :]
    assert re.search(r'<tr class="over">\s*<th scope="row"><code>full_name</code>', guard)
    assert " Ngọc" in guard  # a sample, before → after
    assert 'id="accept"' in page.text and 'id="rollback"' not in page.text
    # a plain steward is no steward of the population registry
    refused = await lan.post(f"/console/etl/{stopped}/accept", data={"csrf": csrf_of(page)})
    assert refused.status_code == 403
    assert "to accept a load of residents needs a steward of: population" in text_of(refused)
    theirs = await hoa.get(f"/console/etl/{stopped}")
    accepted = await hoa.post(f"/console/etl/{stopped}/accept", data={"csrf": csrf_of(theirs)})
    assert accepted.status_code == 303, text_of(accepted)[:3000]
    merged = accepted.headers["location"]
    merged_id = int(re.findall(r"/etl/(\d+)", merged)[0])
    assert merged_id > stopped
    shown = await hoa.get(merged)
    assert "Đã chấp nhận và nạp" in shown.text and "hoàn tất" in text_of(shown)
    assert MESSAGES["etl.guard_accepted"][0] in shown.text
    assert (
        f'href="/console/etl/{stopped}"'
        not in (await hoa.get("/console/etl")).text.split('id="runs"')[0]
    )  # no longer waiting
    again = await hoa.post(f"/console/etl/{stopped}/accept", data={"csrf": csrf_of(shown)})
    assert again.status_code == 409 and "does not wait for acceptance" in text_of(again)

    # the accepted load rolled back by the steward; a second rollback refused in its words
    rolled = await hoa.post(f"/console/etl/{merged_id}/rollback", data={"csrf": csrf_of(shown)})
    assert rolled.status_code == 303, text_of(rolled)[:3000]
    rollback_page = await hoa.get(rolled.headers["location"])
    assert "Đã hoàn tác" in rollback_page.text and f"/console/etl/{merged_id}" in rollback_page.text
    with psycopg.connect(console_settings.libpq_url) as connection:
        actor = connection.execute(
            "SELECT actor FROM etl_runs WHERE rollback_of = %s", (merged_id,)
        ).fetchone()
    assert actor == ("steward-hoa",)
    twice = await hoa.post(f"/console/etl/{merged_id}/rollback",
                           data={"csrf": csrf_of(rollback_page)})  # fmt: skip
    assert twice.status_code == 409
    assert f"run {merged_id} was already rolled back by run" in text_of(twice)
    missing = await hoa.get("/console/etl/999999")
    assert missing.status_code == 404


def run_views(settings: Settings, run_id: int) -> dict[tuple[str, str], int]:
    """The stewards' views of a run's samples in the access log: per (subject type, id), how
    many."""
    with psycopg.connect(settings.libpq_url) as connection:
        rows = connection.execute(
            "SELECT subject_type, subject_id, count(*) FROM access_log WHERE purpose = "
            "'oversight' AND operation = 'etl.run' AND decision->'filter'->>'run_id' = %s "
            "GROUP BY 1, 2",
            (str(run_id),),
        ).fetchall()
    return {(kind, key): int(n) for kind, key, n in rows}


async def test_a_run_page_showing_samples_is_logged_under_each_subject_shown(
    stewards: dict[str, httpx.AsyncClient], app: FastAPI, console_settings: Settings,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    first_run, stopped = await stopped_load(console_settings, tmp_path, seed=23)
    with psycopg.connect(console_settings.libpq_url) as connection:
        row = connection.execute("SELECT guard FROM etl_runs WHERE run_id = %s",
                                 (stopped,)).fetchone()  # fmt: skip
    assert row is not None
    samples = row[0]["fields"]["full_name"]["samples"]
    shown = {key for key, _before, _after in samples}
    assert shown and all(re.fullmatch(r"[0-9]{12}", key) for key in shown)

    hoa = stewards["hoa"]
    page = await hoa.get(f"/console/etl/{stopped}")
    assert page.status_code == 200
    assert all(html.escape(after) in page.text for _key, _before, after in samples)
    views = run_views(console_settings, stopped)
    assert views == {("resident", key): 1 for key in shown}  # one entry per subject, this view
    with psycopg.connect(console_settings.libpq_url) as connection:
        entries = connection.execute(
            "SELECT agency, officer, decision FROM access_log WHERE operation = 'etl.run' "
            "AND decision->'filter'->>'run_id' = %s",
            (str(stopped),),
        ).fetchall()
    assert {(agency, officer) for agency, officer, _ in entries} == {
        ("steward-console", "steward-hoa")
    }
    decision = entries[0][2]
    assert decision["outcome"] == "oversight" and decision["read"] == "etl.run"
    assert decision["filter"] == {"run_id": stopped, "target": "residents"}
    assert "full_name" in decision["fields"] and decision["returned"] == len(shown)
    # each view is its own disclosure
    await hoa.get(f"/console/etl/{stopped}")
    assert run_views(console_settings, stopped) == {("resident", key): 2 for key in shown}
    # a refused accept shows the page again: a view like any other
    lan = stewards["lan"]
    theirs = await lan.get(f"/console/etl/{stopped}")
    refused = await lan.post(f"/console/etl/{stopped}/accept", data={"csrf": csrf_of(theirs)})
    assert refused.status_code == 403 and "needs a steward of: population" in text_of(refused)
    assert run_views(console_settings, stopped) == {("resident", key): 4 for key in shown}
    # a page without samples (a first fill) discloses nobody: nothing recorded
    assert (await hoa.get(f"/console/etl/{first_run}")).status_code == 200
    assert run_views(console_settings, first_run) == {}

    # the access log cannot be written: 503, and nothing of the samples leaves
    async def broken(_entries: object) -> None:
        raise AuditUnavailable("the writer is not running")

    monkeypatch.setattr(app.state.services.audit, "record", broken)
    failed = await hoa.get(f"/console/etl/{stopped}")
    monkeypatch.undo()
    assert failed.status_code == 503
    assert not any(key in failed.text for key in shown)
    assert not any(html.escape(after) in failed.text for _key, _before, after in samples)
    assert run_views(console_settings, stopped) == {("resident", key): 4 for key in shown}
