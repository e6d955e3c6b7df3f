"""The citizens' pages (/me) through HTTP: the whole gateway app in process (lifespan included,
its own committed database), citizens and a steward signing in at the real OIDC stand-in
(tests/oidc) by the authorization-code flow with PKCE, each browser its own cookie jar, and
agencies reading residents through real GraphQL requests.

Who looked at my data: only the signed-in citizen's own entries, agencies' and purposes' names,
fields under the forms' Vietnamese labels, the filter, the CSV matching the page. Consents:
given within what an agreement allows with consent (anything else refused, said plainly),
withdrawn, the bank's reads following both. Every form needs its anti-forgery token; a steward
cannot open /me; every page view is in the access log."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.audit.models import AccessLogEntry
from gateway.console import me
from gateway.console.me_data import ConsentOffer, consent_offers
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.consents import MAX_CONSENT_FIELDS
from gateway.policy.models import Agency, Agreement
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from registries.history import VIETNAM_TIME, supersede
from tests import console, factories
from tests.console import csrf_of, table_rows, text_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = json.loads((ROOT / "infra" / "sample" / "policy.json").read_text(encoding="utf-8"))
READ = "query($id: ID!) { resident(id: $id) { fullName birthDate permanentAddress { line } } }"
MAI, BINH = "Đặng Thị Mai", "Hồ Văn Bình"


@pytest.fixture(scope="module")
async def citizens(committed_database_url: str) -> dict[str, str]:
    """Two residents (username: personal ID) and the sample agreements."""
    engine = create_engine(Settings(database_url=committed_database_url), pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            mai = await factories.make_resident(session, full_name=MAI, sex="female")
            binh = await factories.make_resident(session, full_name=BINH)
    finally:
        await engine.dispose()
    return {"mai": mai.personal_id, "binh": binh.personal_id}


@pytest.fixture(scope="module")
def console_users(citizens: dict[str, str]) -> list[dict[str, Any]]:
    """Steward Lan and the two citizens (tests/conftest.py starts the stand-in with them)."""
    lan = {**console.stewards({"lan": ("steward-lan", ["steward"])})[0], "name": "Nguyễn Thị Lan"}
    return [lan, *(console.citizen(name, personal_id) for name, personal_id in citizens.items())]


async def signed_in(
    browser: Callable[[], httpx.AsyncClient], username: str, *, home: str = "/me"
) -> httpx.AsyncClient:
    http = browser()
    await console.sign_in(http, username, home=home)
    return http


async def read_resident(
    app_browser: httpx.AsyncClient, settings: Settings, personal_id: str, agency: str, purpose: str
) -> dict[str, Any]:
    token = DevIssuer(settings).mint(agency=agency)
    answer = await app_browser.post(
        "/graphql", json={"query": READ, "variables": {"id": personal_id}},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": purpose,
                 "X-Officer": f"officer-of-{agency}"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def self_reads(settings: Settings, personal_id: str) -> list[AccessLogEntry]:
    """The citizen's own reads the access log holds (what stewards see; never shown to them)."""
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            found = await session.execute(
                select(AccessLogEntry)
                .where(AccessLogEntry.subject_id == personal_id,
                       AccessLogEntry.decision["outcome"].astext == "self")
                .order_by(AccessLogEntry.occurred_at)
            )  # fmt: skip
            return list(found.scalars())
    finally:
        await engine.dispose()


# -- who looked at my data ---------------------------------------------------------------------


async def test_a_citizen_sees_their_own_disclosures_with_names_and_vietnamese_labels(
    browser: Callable[[], httpx.AsyncClient], citizens: dict[str, str], console_settings: Settings
) -> None:
    agency = browser()
    # the one-stop centre reads Mai (names, birth, address), the tax office is refused her,
    # and the one-stop centre reads Bình
    given = await read_resident(agency, console_settings, citizens["mai"], "motcua-danang", "CT01")
    assert given["data"]["resident"]["fullName"] == MAI
    refused = await read_resident(agency, console_settings, citizens["mai"], "thue-hcm", "DKKD")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await read_resident(agency, console_settings, citizens["binh"], "motcua-danang", "CT01")

    mai = await signed_in(browser, "mai")
    page = await mai.get("/me/")
    assert page.status_code == 200, text_of(page)[:2000]
    assert '<html lang="vi">' in page.text
    shown = text_of(page)
    assert citizens["mai"] in shown and citizens["binh"] not in shown
    rows = table_rows(page, "access-log")
    one_stop = [r for r in rows if "motcua-danang" in r[1]]
    assert one_stop, rows
    time_, agency_cell, purpose, officer, _dossier, fields, outcome = one_stop[0]
    assert agency_cell.startswith("Trung tâm Phục vụ hành chính công thành phố Đà Nẵng")
    assert purpose.startswith("Đăng ký cư trú (tờ khai CT01)")
    assert officer == "officer-of-motcua-danang"
    # the fields under CT01's labels (graphql/forms/CT01.yaml), not GraphQL names
    assert "Họ, chữ đệm và tên" in fields and "Ngày, tháng, năm sinh" in fields
    assert "Nơi thường trú" in fields and "fullName" not in fields
    assert outcome == "Đã cung cấp"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", time_)
    tax = [r for r in rows if "thue-hcm" in r[1]]
    assert tax and tax[0][-1] == "Bị từ chối"
    # the other citizen's read is not hers; hers are not his
    binh = await signed_in(browser, "binh")
    his = await binh.get("/me/")
    assert MAI not in his.text and citizens["mai"] not in his.text
    assert [r for r in table_rows(his, "access-log") if "motcua-danang" in r[1]]
    assert not [r for r in table_rows(his, "access-log") if "thue-hcm" in r[1]]
    # in English, the schema's descriptions where there is one
    english = await mai.get("/me/?lang=en")
    assert '<html lang="en">' in english.text
    assert "Who looked at my data" in english.text
    assert "Nơi thường trú" in english.text  # permanentAddress's description is its own name
    assert "fullName" in text_of(english)  # no description: the field's name


async def test_the_filter_narrows_and_the_csv_matches_the_page(
    browser: Callable[[], httpx.AsyncClient], citizens: dict[str, str], console_settings: Settings
) -> None:
    agency = browser()
    for _ in range(2):
        await read_resident(agency, console_settings, citizens["binh"], "motcua-danang", "CT01")
    await read_resident(agency, console_settings, citizens["binh"], "tainguyen-danang", "CPXD")
    binh = await signed_in(browser, "binh")
    everything = table_rows(await binh.get("/me/"), "access-log")
    assert {"motcua-danang", "tainguyen-danang"} <= {r[1].split()[-1] for r in everything}

    filtered = await binh.get("/me/", params={"agency": "motcua-danang"})
    rows = table_rows(filtered, "access-log")
    assert rows and all(r[1].endswith("motcua-danang") for r in rows)
    assert len(rows) < len(everything)
    today = datetime.now(VIETNAM_TIME).date()
    future = await binh.get("/me/", params={"since": (today + timedelta(days=1)).isoformat()})
    assert table_rows(future, "access-log") == []
    assert "Chưa có lượt truy cập nào" in text_of(future)
    this_day = await binh.get("/me/", params={"since": today.isoformat(),
                                               "until": today.isoformat()})  # fmt: skip
    assert len(table_rows(this_day, "access-log")) == len(everything)

    # the CSV: the same rows as the filtered page, cell for cell
    link = re.search(r'id="csv" href="([^"]+)"', filtered.text)
    assert link is not None
    download = await binh.get(html.unescape(link.group(1)))
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(download.text.removeprefix("\ufeff"))))
    header, body = lines[0], lines[1:]
    assert header[:3] == ["Thời điểm", "Mã cơ quan", "Cơ quan"]
    assert len(body) == len(rows)
    for line, row in zip(body, rows, strict=True):
        when, code, name, purpose_code, purpose, outcome, officer, dossier = line[:8]
        assert row[0] == when
        assert row[1] == f"{name} {code}" and code == "motcua-danang"
        assert row[2] == f"{purpose} {purpose_code}"
        assert row[3] == officer and row[4] == dossier and row[6] == outcome
        assert f"Đã cung cấp: {line[8]}" in row[5]
    assert citizens["mai"] not in download.text and MAI not in download.text


async def test_bad_filters_are_said_at_their_inputs(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    mai = await signed_in(browser, "mai")
    bad = await mai.get("/me/", params={"since": "2026-02-30", "agency": "Not An Agency"})
    assert bad.status_code == 422
    shown = text_of(bad)
    assert "2026-02-30 không phải là ngày (YYYY-MM-DD)" in shown
    assert "Not An Agency không phải là mã cơ quan" in shown
    assert 'id="filter-since" name="since" type="date" value="2026-02-30" aria-invalid="true"' in (
        bad.text
    )
    backwards = await mai.get("/me/", params={"since": "2026-03-02", "until": "2026-03-01"})
    assert backwards.status_code == 422
    assert "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc" in text_of(backwards)
    cursor = await mai.get("/me/", params={"after": "not-a-cursor"})
    assert cursor.status_code == 422
    assert "Liên kết trang không hợp lệ" in text_of(cursor)
    csv_bad = await mai.get("/me/log.csv", params={"until": "yesterday"})
    assert csv_bad.status_code == 422
    assert "text/html" in csv_bad.headers["content-type"]


# -- consents ----------------------------------------------------------------------------------


async def test_grant_within_the_agreement_the_bank_reads_then_revoke_refuses_it(
    browser: Callable[[], httpx.AsyncClient], citizens: dict[str, str], console_settings: Settings
) -> None:
    bank = browser()
    before = await read_resident(bank, console_settings, citizens["mai"], "nganhang-abc", "TD-VAY")
    assert before["data"]["resident"] is None
    assert before["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    mai = await signed_in(browser, "mai")
    page = await mai.get("/me/consents")
    assert page.status_code == 200
    # the bank's loan appraisal is offered with the agreement's fields, labelled
    offer = re.search(r'<form[^>]*id="offer-nganhang-abc-TD-VAY".*?</form>', page.text, re.S)
    assert offer is not None
    assert "Ngân hàng thương mại cổ phần ABC" in offer.group(0)
    assert "Thẩm định hồ sơ vay vốn" in offer.group(0)
    offered = set(re.findall(r'name="fields" value="([^"]+)"', offer.group(0)))
    assert offered == {"fullName", "birthDate", "permanentAddress"}
    assert "Họ, chữ đệm và tên" in offer.group(0)
    # no consent offered where no agreement needs one (the one-stop centre's does not)
    assert 'id="offer-motcua-danang' not in page.text

    expires = (datetime.now(VIETNAM_TIME).date() + timedelta(days=30)).isoformat()
    granted = await mai.post("/me/consents", data={
        "csrf": csrf_of(page), "agency": "nganhang-abc", "purpose": "TD-VAY",
        "fields": ["fullName", "birthDate"], "expires": expires,
    })  # fmt: skip
    assert granted.status_code == 303, text_of(granted)[:2000]
    listed = await mai.get(granted.headers["location"])
    assert "Đã ghi nhận sự đồng ý" in text_of(listed)
    consents = table_rows(listed, "consents")
    assert len(consents) == 1
    assert "nganhang-abc" in consents[0][0] and "Họ, chữ đệm và tên" in consents[0][2]
    assert consents[0][4] == expires and consents[0][5] == "đang có hiệu lực"

    read = await read_resident(bank, console_settings, citizens["mai"], "nganhang-abc", "TD-VAY")
    assert read["data"]["resident"]["fullName"] == MAI
    assert read["data"]["resident"]["permanentAddress"] is None  # not consented to
    log = table_rows(await mai.get("/me/", params={"agency": "nganhang-abc"}), "access-log")
    assert len(log) == 2  # the refusal before, the read now
    assert log[0][-1] == "Đã cung cấp" and "Họ, chữ đệm và tên" in log[0][5]
    assert "Bị từ chối: Nơi thường trú" in log[0][5]

    consent_id = re.search(r'action="/me/consents/([^/"]+)/revoke"', listed.text)
    assert consent_id is not None
    # Bình cannot withdraw Mai's consent: for him it does not exist
    binh = await signed_in(browser, "binh")
    theirs = await binh.post(f"/me/consents/{consent_id.group(1)}/revoke",
                             data={"csrf": csrf_of(await binh.get("/me/consents"))})  # fmt: skip
    assert theirs.status_code == 404
    assert "Bạn không có sự đồng ý nào với mã này" in text_of(theirs)
    still = await read_resident(bank, console_settings, citizens["mai"], "nganhang-abc", "TD-VAY")
    assert still["data"]["resident"]["fullName"] == MAI

    revoked = await mai.post(f"/me/consents/{consent_id.group(1)}/revoke",
                             data={"csrf": csrf_of(listed)})  # fmt: skip
    assert revoked.status_code == 303
    after = await mai.get(revoked.headers["location"])
    assert "Đã rút lại sự đồng ý" in text_of(after)
    assert table_rows(after, "consents")[0][5].startswith("đã rút lại ngày")
    assert "/revoke" not in after.text  # nothing left to withdraw
    refused = await read_resident(bank, console_settings, citizens["mai"], "nganhang-abc", "TD-VAY")
    assert refused["data"]["resident"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_consent_outside_what_agreements_allow_is_refused_plainly(
    browser: Callable[[], httpx.AsyncClient], citizens: dict[str, str], console_settings: Settings
) -> None:
    binh = await signed_in(browser, "binh")
    csrf = csrf_of(await binh.get("/me/consents"))
    expires = (datetime.now(VIETNAM_TIME).date() + timedelta(days=30)).isoformat()
    cases = [
        # a field the bank's agreement does not list, even with consent
        ({"agency": "nganhang-abc", "purpose": "TD-VAY", "fields": ["fullName", "religion"]},
         "Thỏa thuận không cho phép xem các trường này kể cả khi bạn đồng ý: religion"),
        # an agency whose agreement needs no consent: nothing to consent to
        ({"agency": "motcua-danang", "purpose": "CT01", "fields": ["fullName"]},
         "Không có thỏa thuận nào cho phép cơ quan motcua-danang xem dữ liệu với sự đồng ý "
         "cho mục đích CT01"),
        ({"agency": "nganhang-abc", "purpose": "TD-VAY", "fields": []},
         "Hãy chọn ít nhất một trường dữ liệu"),
        ({"agency": "nganhang-abc", "purpose": "TD-VAY", "fields": ["fullName"],
          "expires": "2020-01-01"}, "Ngày hết hạn phải từ hôm nay trở đi"),
        ({"agency": "nganhang-abc", "purpose": "TD-VAY", "fields": ["fullName"],
          "expires": "soon"}, "soon không phải là ngày (YYYY-MM-DD)"),
    ]  # fmt: skip
    for form, said in cases:
        answer = await binh.post("/me/consents", data={"csrf": csrf, "expires": expires, **form})
        assert answer.status_code == 422, form
        assert said in text_of(answer), (form, text_of(answer)[:1500])
        # shown at the input it concerns (an unknown offer has no input of its own)
        assert ('aria-invalid="true"' in answer.text) == (form["agency"] == "nganhang-abc")
    assert table_rows(await binh.get("/me/consents"), "consents") == []  # nothing recorded
    bank = browser()
    read = await read_resident(bank, console_settings, citizens["binh"], "nganhang-abc", "TD-VAY")
    assert read["data"]["resident"] is None


async def _committed(
    settings: Settings, *changes: tuple[type[Any], dict[str, str], dict[str, Any]]
) -> None:
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            for model, key, values in changes:
                await supersede(session=session, model=model, key=key, values=values)
    finally:
        await engine.dispose()


def _consent_agreement(agency: str) -> dict[str, Any]:
    """An approved agreement in force giving `agency` a resident's name with consent."""
    return {
        "agency": agency, "purpose": "TD-VAY", "subject_type": "Resident",
        "fields": ["fullName"], "via": None, "legal_basis": "Luật Bảo vệ dữ liệu cá nhân 2025",
        "legal_reference": None, "effective_from": datetime.now(VIETNAM_TIME) - timedelta(days=1),
        "effective_to": None, "consent_required": True, "masking": {}, "daily_quota": None,
        "status": "approved", "created_by": "steward-lan", "approved_by": "steward-minh",
        "changed_by": "steward-minh", "note": None,
    }  # fmt: skip


async def test_an_offer_whose_agency_was_suspended_since_the_page_is_refused(
    browser: Callable[[], httpx.AsyncClient], console_settings: Settings
) -> None:
    """The consent rule (gateway/policy/consents.py) is applied when the consent is given, not
    when the page was shown: a bank suspended in between is refused, and nothing recorded."""
    bank = {"client_id": "nganhang-xyz"}
    agreement = _consent_agreement("nganhang-xyz")
    await _committed(
        console_settings,
        (Agency, bank, {"name": "Ngân hàng XYZ", "kind": "bank", "province": None,
                        "status": "active", "changed_by": "admin"}),
        (Agreement, {"agreement_id": "nganhang-xyz/TD-VAY/Resident"}, agreement),
    )  # fmt: skip
    binh = await signed_in(browser, "binh")
    page = await binh.get("/me/consents")
    assert 'id="offer-nganhang-xyz-TD-VAY"' in page.text
    await _committed(console_settings, (Agency, bank, {"status": "suspended", "changed_by": "an"}))
    expires = (datetime.now(VIETNAM_TIME).date() + timedelta(days=30)).isoformat()
    answer = await binh.post("/me/consents", data={
        "csrf": csrf_of(page), "agency": "nganhang-xyz", "purpose": "TD-VAY",
        "fields": ["fullName"], "expires": expires,
    })  # fmt: skip
    assert answer.status_code == 422
    assert ("Không có thỏa thuận nào cho phép cơ quan nganhang-xyz xem dữ liệu với sự đồng ý "
            "cho mục đích TD-VAY") in text_of(answer)  # fmt: skip
    assert 'id="offer-nganhang-xyz-TD-VAY"' not in answer.text  # no longer offered
    shown = table_rows(await binh.get("/me/consents"), "consents")
    assert not any("nganhang-xyz" in row[0] for row in shown)  # nothing recorded


async def test_an_agency_suspended_while_the_consent_is_checked_is_refused_on_the_page(
    browser: Callable[[], httpx.AsyncClient],
    console_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bank is suspended after the page's own check read the offers and before the consent
    is recorded: the rule, applied again as it records (gateway/policy/service.py
    `grant_consent`), refuses it, and the citizen sees the page's error, not a 500."""
    bank = {"client_id": "nganhang-uvw"}
    agreement = _consent_agreement("nganhang-uvw")
    await _committed(
        console_settings,
        (Agency, bank, {"name": "Ngân hàng UVW", "kind": "bank", "province": None,
                        "status": "active", "changed_by": "admin"}),
        (Agreement, {"agreement_id": "nganhang-uvw/TD-VAY/Resident"}, agreement),
    )  # fmt: skip
    binh = await signed_in(browser, "binh")
    page = await binh.get("/me/consents")
    assert 'id="offer-nganhang-uvw-TD-VAY"' in page.text

    async def suspended_once_read(*, session: Any) -> list[ConsentOffer]:
        offers = await consent_offers(session=session)
        await _committed(
            console_settings, (Agency, bank, {"status": "suspended", "changed_by": "an"})
        )
        return offers

    monkeypatch.setattr(me, "consent_offers", suspended_once_read)
    expires = (datetime.now(VIETNAM_TIME).date() + timedelta(days=30)).isoformat()
    answer = await binh.post("/me/consents", data={
        "csrf": csrf_of(page), "agency": "nganhang-uvw", "purpose": "TD-VAY",
        "fields": ["fullName"], "expires": expires,
    })  # fmt: skip
    monkeypatch.undo()
    assert answer.status_code == 422, answer.text[:2000]
    assert ("Không có thỏa thuận nào cho phép cơ quan nganhang-uvw xem dữ liệu với sự đồng ý "
            "cho mục đích TD-VAY") in text_of(answer)  # fmt: skip
    shown = table_rows(await binh.get("/me/consents"), "consents")
    assert not any("nganhang-uvw" in row[0] for row in shown)  # nothing recorded


async def test_too_many_fields_are_refused_in_the_pages_words(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    binh = await signed_in(browser, "binh")
    csrf = csrf_of(await binh.get("/me/consents"))
    expires = (datetime.now(VIETNAM_TIME).date() + timedelta(days=30)).isoformat()
    fields = ["fullName"] * (MAX_CONSENT_FIELDS + 1)
    for lang, said in (("vi", f"Chọn nhiều nhất {MAX_CONSENT_FIELDS} trường dữ liệu"),
                       ("en", f"Choose at most {MAX_CONSENT_FIELDS} fields")):  # fmt: skip
        answer = await binh.post(f"/me/consents?lang={lang}", data={
            "csrf": csrf, "agency": "nganhang-abc", "purpose": "TD-VAY", "fields": fields,
            "expires": expires,
        })  # fmt: skip
        assert answer.status_code == 422
        assert said in text_of(answer), text_of(answer)[:1500]
        assert 'id="fields-nganhang-abc-TD-VAY" aria-invalid="true"' in answer.text


async def test_every_form_needs_its_sessions_token(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    mai, binh = await signed_in(browser, "mai"), await signed_in(browser, "binh")
    expires = (datetime.now(VIETNAM_TIME).date() + timedelta(days=30)).isoformat()
    form = {"agency": "nganhang-abc", "purpose": "TD-VAY", "fields": ["fullName"],
            "expires": expires}  # fmt: skip
    for token in (None, "forged", csrf_of(await mai.get("/me/consents"))):  # the last: Mai's
        data = form if token is None else {**form, "csrf": token}
        refused = await binh.post("/me/consents", data=data)
        assert refused.status_code == 403
        assert "CSRF" in text_of(refused)
        gone = await binh.post("/me/consents/any-id/revoke", data=data)
        assert gone.status_code == 403
    assert table_rows(await binh.get("/me/consents"), "consents") == []
    anonymous = await browser().post("/me/consents", data=form)
    assert anonymous.status_code == 303  # sent to sign in, nothing done
    assert anonymous.headers["location"].startswith("/me/sign-in")


# -- who may open /me, and what is logged ---------------------------------------------------


async def test_a_steward_cannot_open_me(browser: Callable[[], httpx.AsyncClient]) -> None:
    lan = await signed_in(browser, "lan", home="/console")
    for path in ("/me/", "/me/consents", "/me/log.csv"):
        refused = await lan.get(path)
        assert refused.status_code == 403, path
        assert "Trang này chỉ dành cho công dân" in text_of(refused)
    csrf = csrf_of(await lan.get("/console/"))
    posted = await lan.post("/me/consents", data={"csrf": csrf, "agency": "nganhang-abc"})
    assert posted.status_code == 403


async def test_each_page_view_is_in_the_access_log(
    browser: Callable[[], httpx.AsyncClient], citizens: dict[str, str], console_settings: Settings
) -> None:
    mai = await signed_in(browser, "mai")
    before = len(await self_reads(console_settings, citizens["mai"]))
    await mai.get("/me/", params={"agency": "motcua-danang"})
    await mai.get("/me/consents")
    await mai.get("/me/log.csv")
    await mai.get("/me/", params={"since": "bad"})  # refused input shows nothing: not a read
    entries = (await self_reads(console_settings, citizens["mai"]))[before:]
    reads = [(e.decision["read"], e.operation) for e in entries]
    assert reads == [
        ("myAccessLog", "console /me/"),
        ("myConsents", "console /me/consents"),
        ("myAccessLog.csv", "console /me/log.csv"),
    ]
    page = entries[0]
    assert page.agency == "citizen-portal" and page.subject_type == "resident"
    assert page.decision["filter"] == {"agency": "motcua-danang", "after": False}
    assert page.decision["returned"] > 0 and page.decision["roles"] == ["citizen"]
    # the citizen's own reads are the stewards' to see, not shown back to them as disclosures
    assert "citizen-portal" not in text_of(await mai.get("/me/"))


def test_the_realm_sends_citizens_back_to_me_and_is_ready_for_vneid() -> None:
    """infra/keycloak/realm-lienthong.json: the console's and the portal's clients come back to
    <base>/console/callback and <base>/me/callback; VNeID is there, disabled, mapping the
    personal ID to `citizen_id` and giving the role `citizen`."""
    realm = json.loads(
        (ROOT / "infra" / "keycloak" / "realm-lienthong.json").read_text(encoding="utf-8")
    )
    clients = {client["clientId"]: client for client in realm["clients"]}
    for client_id, home in (("steward-console", "/console"), ("citizen-portal", "/me")):
        assert any(uri.endswith(f"{home}/callback") for uri in clients[client_id]["redirectUris"])
    provider = next(p for p in realm["identityProviders"] if p["alias"] == "vneid")
    assert provider["enabled"] is False and provider["providerId"] == "oidc"
    assert provider["config"]["pkceEnabled"] == "true"
    mappers = {m["identityProviderMapper"]: m["config"] for m in realm["identityProviderMappers"]
               if m["identityProviderAlias"] == "vneid"}  # fmt: skip
    assert mappers["oidc-user-attribute-idp-mapper"]["user.attribute"] == "citizen_id"
    assert mappers["oidc-hardcoded-role-idp-mapper"]["role"] == "citizen"
    # what the portal then puts in the token: the attribute, as the claim the gateway reads
    portal = {m["name"]: m["config"] for m in clients["citizen-portal"]["protocolMappers"]}
    assert portal["citizen-id"]["user.attribute"] == "citizen_id"
    assert portal["citizen-id"]["claim.name"] == "citizen_id"


async def test_every_input_of_me_has_a_label_in_both_languages(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    mai = await signed_in(browser, "mai")
    for path in ("/me/", "/me/consents", "/me/?lang=en", "/me/consents?lang=en"):
        page = await mai.get(path)
        assert page.status_code == 200, path
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page.text))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page.text):
            if 'type="hidden"' in tag:
                continue
            found = re.search(r'id="([^"]+)"', tag)
            assert found and found.group(1) in labelled, (path, tag)
        assert 'aria-current="page"' in page.text  # where the citizen is, in the navigation
