"""The web console through HTTP: the whole gateway app in process (lifespan included, its own
committed database), people signing in at the real OIDC stand-in (tests/oidc) by the
authorization-code flow with PKCE, each browser its own cookie jar.

Sign-in and sign-out, the session cookie's flags, the anti-forgery token on every form, the
Content-Security-Policy, who may open which pages, the agreement pages on the admin API's
services (bad input shown per input, four-eyes refusals shown, the diff a second steward sees,
the approval's effect on the agency's next GraphQL request), the dashboard's figures."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Response
from pydantic import SecretStr

from gateway.admin.agreements import service as agreements_service
from gateway.console import mount_console
from gateway.console.messages import MESSAGES
from gateway.console.sessions import ConsoleSession, Cookies, session_key
from gateway.graph.context import Services
from gateway.graph.schema import build_schema
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Env, Settings
from registries.db import create_engine, session_factory
from registries.history import VIETNAM_TIME
from tests import console, factories, openid
from tests.console import BASE, PASSWORD, csrf_of, sign_in, text_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = json.loads((ROOT / "infra" / "sample" / "policy.json").read_text(encoding="utf-8"))
STEWARDS = {  # username: (sub, realm roles)
    "lan": ("steward-lan", ["steward"]),
    "minh": ("steward-minh", ["steward"]),
    "hoa": ("steward-hoa", ["steward", "steward:population"]),
}
CITIZEN_NAME = "Đặng Thị Mai"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"
SESSION_COOKIE = "lt-console"


@pytest.fixture(scope="module")
async def citizen_id(committed_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
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
    """The stewards, and Mai, a citizen (tests/conftest.py starts the stand-in with them)."""
    return [*console.stewards(STEWARDS), console.citizen("mai", citizen_id, CITIZEN_NAME)]


async def steward(browser: Callable[[], httpx.AsyncClient], username: str) -> httpx.AsyncClient:
    http = browser()
    await sign_in(http, username)
    return http


# -- signing in --------------------------------------------------------------------------------


async def test_anonymous_is_sent_to_sign_in(browser: Callable[[], httpx.AsyncClient]) -> None:
    http = browser()
    for path in ("/console/", "/console/agreements?status=draft", "/console/approvals"):
        answer = await http.get(path)
        assert answer.status_code == 303
        location = urlsplit(answer.headers["location"])
        assert location.path == "/console/sign-in"
        assert parse_qs(location.query)["next"] == [path]
    page = await http.get("/console/sign-in", params={"next": "/console/approvals"})
    assert page.status_code == 200
    assert '<html lang="vi">' in page.text
    assert 'href="/console/sign-in/start?next=/console/approvals"' in page.text
    # a POST without a session is sent to sign in too, not run
    posted = await http.post("/console/audit/verify", data={"csrf": "x"})
    assert posted.status_code == 303
    assert (await http.get("/me/")).headers["location"].startswith("/me/sign-in")


async def test_sign_in_is_the_code_flow_with_pkce(
    browser: Callable[[], httpx.AsyncClient], oidc: str
) -> None:
    http = browser()
    start = await http.get("/console/sign-in/start", params={"next": "https://evil.example/"})
    asked = urlsplit(start.headers["location"])
    assert f"{asked.scheme}://{asked.netloc}" == oidc
    assert asked.path == "/realms/lienthong/protocol/openid-connect/auth"
    query = {k: v[0] for k, v in parse_qs(asked.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "steward-console"
    assert query["redirect_uri"] == f"{BASE}/console/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43 and query["state"] and query["nonce"]
    login_cookie = start.headers["set-cookie"]
    assert "HttpOnly" in login_cookie and "SameSite=lax" in login_cookie
    target = await asyncio.to_thread(
        openid.login, start.headers["location"], username="lan",
        password=PASSWORD.format("lan"), redirect_uri=f"{BASE}/console/callback",
    )  # fmt: skip
    back = await http.get(target.removeprefix(BASE))
    assert back.status_code == 303
    assert back.headers["location"] == "/console/"  # not the other site it was asked for
    cookies = back.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
    assert "Secure" not in session  # dev over http; prod: Secure and __Host- (unit below)
    # the same code again: the provider refuses it, and nobody is signed in by it
    replay = browser()
    again = await replay.get(target.removeprefix(BASE))
    assert again.status_code == 400  # no sign-in in flight in this browser
    dashboard = await http.get("/console/")
    assert dashboard.status_code == 200
    assert "Lan" in dashboard.text


async def test_a_callback_with_another_state_or_a_refusal_signs_nobody_in(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = browser()
    start = await http.get("/console/sign-in/start")
    wrong = await http.get("/console/callback", params={"code": "x", "state": "not-it"})
    assert wrong.status_code == 400
    assert "STATE" in wrong.text
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    denied = await http.get(
        "/console/callback",
        params={"state": state, "error": "access_denied", "error_description": "invalid password"},
    )
    assert denied.status_code == 401
    assert "access_denied" in denied.text
    forged = await http.get("/console/callback", params={"code": "forged", "state": state})
    assert forged.status_code == 401
    assert "refused the code" in forged.text
    assert (await http.get("/console/")).status_code == 303


async def test_a_wrong_password_ends_at_the_callback_refused(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = browser()
    start = await http.get("/console/sign-in/start")
    target = await asyncio.to_thread(
        openid.login, start.headers["location"], username="lan", password="wrong",
        redirect_uri=f"{BASE}/console/callback",
    )  # fmt: skip
    refused = await http.get(target.removeprefix(BASE))
    assert refused.status_code == 401
    assert "access_denied" in refused.text
    assert (await http.get("/console/")).status_code == 303


async def test_a_tampered_session_cookie_is_nobody(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    value = http.cookies[SESSION_COOKIE]
    http.cookies.set(
        SESSION_COOKIE, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    )
    assert (await http.get("/console/")).status_code == 303


async def test_signing_out_ends_the_session(browser: Callable[[], httpx.AsyncClient]) -> None:
    http = await steward(browser, "lan")
    page = await http.get("/console/")
    refused = await http.post("/console/sign-out", data={"csrf": "wrong"})
    assert refused.status_code == 403
    out = await http.post("/console/sign-out", data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    assert out.headers["location"] == "/console/sign-in?out=1"
    assert any(
        c.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in c
        for c in out.headers.get_list("set-cookie")
    )
    shown = await http.get(out.headers["location"])
    assert "Bạn đã đăng xuất" in shown.text
    assert "/sign-out" not in shown.text  # nobody is signed in
    assert (await http.get("/console/")).status_code == 303


# -- who may see what --------------------------------------------------------------------------


async def test_a_citizen_signs_in_at_me_and_cannot_open_the_console(
    browser: Callable[[], httpx.AsyncClient], citizen_id: str
) -> None:
    http = browser()
    await sign_in(http, "mai", home="/me")
    mine = await http.get("/me/")
    assert mine.status_code == 200
    assert citizen_id in mine.text
    for path in ("/console/", "/console/agreements", "/console/approvals"):
        refused = await http.get(path)
        assert refused.status_code == 403
        assert "cán bộ quản trị dữ liệu" in refused.text
    csrf = csrf_of(mine)
    posted = await http.post("/console/agreements/new", data={"csrf": csrf, "subject_type": "x"})
    assert posted.status_code == 403


async def test_a_steward_is_not_a_citizen(browser: Callable[[], httpx.AsyncClient]) -> None:
    http = await steward(browser, "lan")
    refused = await http.get("/me/")
    assert refused.status_code == 403
    assert "chỉ dành cho công dân" in refused.text


# -- headers, language, assets ---------------------------------------------------------------------


async def test_assets_and_a_failing_page_carry_the_policy_too(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy is on every console answer: its assets, and a page that fails on a bug (a
    page of the console's own, not a bare 500)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await sign_in(http, "lan")
        for path in ("/console/static/console.css", "/me/nope"):
            answer = await http.get(path)
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path

        async def broken(**_: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr(agreements_service, "list_agreements", broken)
        failed = await http.get("/console/agreements")
    assert failed.status_code == 500
    assert "frame-ancestors 'none'" in failed.headers["content-security-policy"]
    assert '<html lang="vi">' in failed.text and "a bug" not in failed.text


async def test_pages_carry_a_strict_content_security_policy(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    for path in ("/console/", "/console/agreements", "/console/sign-in", "/console/nope"):
        answer = await http.get(path)
        policy = answer.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["form-action"] == "'self'"
        assert "unsafe" not in policy
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        # nothing inline a strict policy would refuse, nothing from elsewhere
        assert "<script" not in answer.text
        assert "style=" not in answer.text
        assert not re.search(r'(src|href)="(https?:)?//', answer.text)
    style = await http.get("/console/static/console.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert (await http.get("/console/static/..%2Fweb.py")).status_code == 404
    assert (await http.get("/console/static/web.py")).status_code == 404


async def test_vietnamese_first_english_on_request(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    vietnamese = await http.get("/console/")
    assert '<html lang="vi">' in vietnamese.text
    assert "Tổng quan" in vietnamese.text
    english = await http.get("/console/?lang=en")
    assert '<html lang="en">' in english.text
    assert "Dashboard" in english.text
    assert "lt-lang=en" in english.headers["set-cookie"]
    kept = await http.get("/console/agreements")  # the cookie keeps the choice
    assert '<html lang="en">' in kept.text
    back = await http.get("/console/agreements?lang=vi")
    assert '<html lang="vi">' in back.text


def test_every_message_has_both_languages() -> None:
    for key, (vietnamese, english) in MESSAGES.items():
        assert vietnamese.strip() and english.strip(), key
        placeholders = set(re.findall(r"{(\w+)}", vietnamese))
        assert placeholders == set(re.findall(r"{(\w+)}", english)), key


async def test_every_input_has_a_label(browser: Callable[[], httpx.AsyncClient]) -> None:
    http = await steward(browser, "lan")
    for path in ("/console/agreements", "/console/agreements/new",
                 "/console/agreements/new?subject_type=Resident"):  # fmt: skip
        page = (await http.get(path)).text
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
            if 'type="hidden"' in tag:
                continue
            found = re.search(r'id="([^"]+)"', tag)
            assert found and found.group(1) in labelled, (path, tag)


# -- anti-forgery --------------------------------------------------------------------------------


async def test_every_form_needs_its_sessions_token(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    lan = await steward(browser, "lan")
    minh = await steward(browser, "minh")
    page = await lan.get("/console/")
    theirs = csrf_of(await minh.get("/console/"))
    for data in ({}, {"csrf": ""}, {"csrf": "guessed"}, {"csrf": theirs}):
        refused = await lan.post("/console/audit/verify", data=data)
        assert refused.status_code == 403
        assert "CSRF" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
    form = {"csrf": "guessed", "subject_type": "Resident", "fields": "fullName"}
    assert (await lan.post("/console/agreements/new", data=form)).status_code == 403
    accepted = await lan.post("/console/audit/verify", data={"csrf": csrf_of(page)})
    assert accepted.status_code == 303


# -- agreements ----------------------------------------------------------------------------------


def draft_form(csrf: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf": csrf,
        "agency": "motcua-danang",
        "purpose": "CPXD",
        "subject_type": "Resident",
        "fields": ["fullName"],
        "legal_basis": "Luật Xây dựng 2014, Điều 95",
        "legal_reference": "50/2014/QH13",
        "effective_from": "2026-01-01",
        "effective_to": "",
        "daily_quota": "",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


BAD_INPUT = [
    ({"fields": None}, "fields", "at least 1 item"),
    ({"fields": ["fullName", "shoeSize"]}, "fields", "Resident has no field shoeSize"),
    ({"effective_from": "31/12/2026"}, "effective_from", "is not a date"),
    ({"effective_to": "2025-01-01"}, "effective_to", "must be after effective_from"),
    ({"daily_quota": "lots"}, "daily_quota", "is not a whole number"),
    ({"daily_quota": "0"}, "daily_quota", "greater than or equal to 1"),
    ({"legal_basis": ""}, "legal_basis", "at least 1 character"),
    ({"mask.birthDate": "year_only"}, "masking", "masks fields the agreement does not give"),
    ({"via": ["Parcel.rights.holder", "Household.nowhere"]}, "via",
     "no relation Household.nowhere"),
    ({"via": ["Enterprise.legalRepresentatives", "Resident.parcels"]}, "via",
     "Resident.parcels reaches Parcel, not Resident"),
    ({"agency": "khong-co"}, "agency", "no agency 'khong-co' is registered"),
    ({"purpose": "NOPE"}, "purpose", "no purpose 'NOPE' in the catalogue"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "argument", "said"), BAD_INPUT)
async def test_bad_input_in_a_draft_is_shown_at_its_input(
    browser: Callable[[], httpx.AsyncClient], change: dict[str, Any], argument: str, said: str
) -> None:
    http = await steward(browser, "lan")
    csrf = csrf_of(await http.get("/console/agreements/new?subject_type=Resident"))
    answer = await http.post("/console/agreements/new", data=draft_form(csrf, **change))
    assert answer.status_code == 422, answer.text[:3000]
    assert f'href="#{argument}"' in answer.text  # the summary links to the input
    assert said in html.unescape(answer.text)
    assert 'aria-invalid="true"' in answer.text
    # what was typed is kept
    assert 'value="Luật Xây dựng 2014, Điều 95"' in answer.text or argument == "legal_basis"
    listed = await http.get("/console/agreements?agency=motcua-danang")
    assert "motcua-danang/CPXD/Resident" not in listed.text  # nothing was drafted


async def test_an_unknown_subject_type_asks_for_one_again(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    asked = await http.get("/console/agreements/new?subject_type=Spaceship")
    assert asked.status_code == 422
    assert 'name="subject_type" value="Resident"' in asked.text
    page = await http.get("/console/agreements/new?subject_type=Parcel")
    assert 'value="rights"' in page.text  # the fields come from the Parcel type of the schema
    assert 'value="fullName"' not in page.text
    csrf = csrf_of(page)
    posted = await http.post("/console/agreements/new", data=draft_form(csrf, subject_type="X"))
    assert posted.status_code == 422


async def test_draft_submit_four_eyes_diff_and_approval_reach_graphql(
    browser: Callable[[], httpx.AsyncClient], citizen_id: str, console_settings: Settings
) -> None:
    lan, minh, hoa = [await steward(browser, name) for name in ("lan", "minh", "hoa")]
    agency = browser()
    token = DevIssuer(console_settings).mint(agency="motcua-danang")

    async def graphql() -> dict[str, Any]:
        answer = await agency.post(
            "/graphql", json={"query": RESIDENT, "variables": {"id": citizen_id}},
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "CPXD"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    before = await graphql()
    assert before["data"]["resident"] is None
    assert before["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # steward A drafts the one-stop centre's read of an applicant for a construction permit
    csrf = csrf_of(await lan.get("/console/agreements/new?subject_type=Resident"))
    created = await lan.post("/console/agreements/new", data=draft_form(
        csrf, fields=["fullName", "birthDate"], **{"mask.birthDate": "year_only"},
    ))  # fmt: skip
    assert created.status_code == 303, text_of(created)[:3000]
    path = "/console/agreements/motcua-danang/CPXD/Resident"
    assert created.headers["location"] == f"{path}?done=saved"
    draft = await lan.get(created.headers["location"])
    assert "Đã lưu bản nháp" in draft.text
    again = await lan.post("/console/agreements/new", data=draft_form(csrf_of(draft)))
    assert again.status_code == 409
    assert "exists: edit it instead" in again.text

    # submitted; steward A may not approve it (four-eyes), and the page says why
    submitted = await lan.post(f"{path}/submit", data=_decision(draft))
    assert submitted.status_code == 303
    review = await lan.get(path)
    assert "chờ phê duyệt" in review.text
    own = await lan.post(f"{path}/approve", data=_decision(review))
    assert own.status_code == 403
    assert "four-eyes: steward-lan proposed this agreement" in text_of(own)
    assert "four_eyes" in own.text
    # another plain steward holds no population scope: refused too, the scope named
    theirs = await minh.get(path)
    scope = await minh.post(f"{path}/approve", data=_decision(theirs))
    assert scope.status_code == 403
    assert "needs a steward of: population" in text_of(scope)
    assert (await graphql())["data"]["resident"] is None

    # the population steward sees the change (a new agreement: every term added) and approves
    seen = await hoa.get("/console/approvals")
    assert "motcua-danang/CPXD/Resident" in seen.text
    review = await hoa.get(path)
    diff = review.text[review.text.index('id="diff"') :]
    assert "Thỏa thuận mới" in review.text
    assert "fullName</ins>" in diff and "birthDate: year_only</ins>" in diff
    rejected_without_note = await hoa.post(f"{path}/reject", data={**_decision(review), "note": ""})
    assert rejected_without_note.status_code == 422
    assert "note: say why you reject it" in text_of(rejected_without_note)
    approved = await hoa.post(f"{path}/approve", data=_decision(review))
    assert approved.status_code == 303
    assert approved.headers["location"] == f"{path}?done=approved"

    after = await graphql()  # the very next request
    assert after["data"]["resident"]["fullName"] == CITIZEN_NAME
    assert re.fullmatch(r"\d{4}", after["data"]["resident"]["birthDate"])  # year_only
    assert "motcua-danang/CPXD/Resident" not in (await hoa.get("/console/approvals")).text


async def test_a_change_is_reviewed_against_the_version_in_force(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    lan, hoa = [await steward(browser, name) for name in ("lan", "hoa")]
    path = "/console/agreements/tainguyen-danang/CPXD/Resident"  # the sample's: in force
    page = await lan.get(path)
    assert "/edit" not in page.text  # an agreement in force is not edited: suspended first
    refused = await lan.post(f"{path}/suspend", data=_decision(page))
    assert refused.status_code == 422
    suspended = await lan.post(f"{path}/suspend", data={**_decision(page), "note": "rà soát"})
    assert suspended.status_code == 303

    form = await lan.get(f"{path}/edit")
    assert form.status_code == 200
    assert 'name="fields" value="fullName" checked' in form.text
    fields = {"csrf": csrf_of(form), "version": _version(form), "subject_type": "Resident",
              "fields": ["fullName", "recordVersion", "birthDate"],
              "via": ["Parcel.rights.holder"], "legal_basis": "Luật Xây dựng 2014, Điều 95",
              "legal_reference": "50/2014/QH13", "effective_from": "2025-01-01"}  # fmt: skip
    stale = await lan.post(f"{path}/edit", data={**fields, "version": "1"})
    assert stale.status_code == 412
    assert "changed since you read it" in text_of(stale)
    edited = await lan.post(f"{path}/edit", data=fields)
    assert edited.status_code == 303, text_of(edited)[:3000]
    page = await lan.get(path)
    assert (await lan.post(f"{path}/submit", data=_decision(page))).status_code == 303

    review = await hoa.get(path)
    assert "So với phiên bản" in review.text  # against the approved version
    diff = review.text[review.text.index('id="diff"') : review.text.index("</table>")]
    assert "birthDate</ins>" in diff
    assert "fullName" not in diff and "recordVersion" not in diff  # unchanged: not shown
    rejected = await hoa.post(f"{path}/reject", data={**_decision(review), "note": "quá rộng"})
    assert rejected.status_code == 303
    shown = await hoa.get(rejected.headers["location"])
    assert "bị từ chối" in shown.text and "quá rộng" in shown.text


def _version(page: httpx.Response) -> str:
    found = re.search(r'name="version" value="(\d+)"', page.text)
    assert found, page.text[:2000]
    return found.group(1)


def _decision(page: httpx.Response) -> dict[str, str]:
    return {"csrf": csrf_of(page), "version": _version(page)}


# -- the dashboard -------------------------------------------------------------------------------


async def test_the_dashboard_counts_disclosures_refusals_waiting_and_the_chain(
    browser: Callable[[], httpx.AsyncClient], citizen_id: str, console_settings: Settings
) -> None:
    agency = browser()
    issuer = DevIssuer(console_settings)
    for client_id, purpose in (("thue-hcm", "DKKD"), ("motcua-danang", "CT01")):
        answer = await agency.post(
            "/graphql", json={"query": RESIDENT, "variables": {"id": citizen_id}},
            headers={"Authorization": f"Bearer {issuer.mint(agency=client_id)}",
                     "X-Purpose": purpose},
        )  # fmt: skip
        assert answer.status_code == 200
    http = await steward(browser, "lan")
    board = await http.get("/console/")
    assert board.status_code == 200
    chart = board.text[board.text.index('id="disclosures-chart"') :]
    chart = chart[: chart.index("</svg>")]
    today = datetime.now(VIETNAM_TIME).date()  # the days are Vietnam's
    assert "motcua-danang" in chart and "thue-hcm" in chart  # a bar each, named on hover
    assert "<rect" in chart
    assert re.search(r"<th scope=\"col\">", board.text)  # the figures as a table too
    assert f"<td>{today.isoformat()}</td><td>motcua-danang</td>" in board.text
    refusals = board.text[board.text.index('id="refusals"') :]
    refusals = refusals[: refusals.index("</table>")]
    # the tax office reads no resident by key: both fields it asked are refused, for that reason
    reason = "no agreement in force or consent covers this subject for this purpose"
    assert re.search(rf"<td>{reason}</td><td class=\"number\">[2-9]\d*</td>", refusals)
    assert re.search(r'id="waiting".*?<dd>\d+</dd>', board.text, re.S)
    assert re.search(r'id="chain".*?<dd>[1-9][\d,]*</dd>', board.text, re.S)
    verified = await http.post("/console/audit/verify", data={"csrf": csrf_of(board)})
    assert verified.status_code == 303
    board = await http.get("/console/?lang=en")
    assert re.search(r"Intact: [\d,]+ entries in \d+ chains, at .*, by steward-lan", board.text)


# -- configuration -------------------------------------------------------------------------------


def test_in_prod_the_session_cookie_is_secure_and_host_only() -> None:
    prod = Settings(env=Env.PROD, console_session_secret=SecretStr("k" * 40))
    cookies = Cookies(prod, session_key(prod))
    response = Response()
    cookies.start(response, ConsoleSession(
        subject="s", agency="steward-console", roles=("steward",), citizen_id=None, name="S",
        csrf="c", expires_at=2_000_000_000,
    ))  # fmt: skip
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-lt-console=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie


async def test_without_a_provider_or_a_session_key_nobody_can_sign_in(tmp_path: Path) -> None:
    schema = build_schema(introspection=False)._schema
    for settings in (
        Settings(env=Env.PROD, home=tmp_path, keycloak_url="https://id.example.gov.vn"),  # no key
        Settings(env=Env.DEV, home=tmp_path, keycloak_url="", console_oidc_url=""),  # no provider
    ):
        app = FastAPI()
        mount_console(
            app, services=lambda: cast(Services, None), schema=schema, settings=settings
        )  # no page here reaches the services
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            page = await http.get("/console/sign-in")
            assert page.status_code == 503
            assert "LIENTHONG_CONSOLE_SESSION_SECRET" in page.text
            assert 'id="sign-in"' not in page.text
            start = await http.get("/console/sign-in/start")
            assert start.status_code == 503
