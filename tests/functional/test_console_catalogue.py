"""The console's purposes, forms, agency documents and explain pages through HTTP: the whole
gateway app in process (its own committed database), stewards signing in at the real OIDC
stand-in (tests/oidc), each browser its own cookie jar.

Every page in both languages, bad input on each form shown at its input, four-eyes refusals
shown with the service's words, a form with a compile error shown at its line and not saved,
a proposal approved by the registry's steward reaching the form in force, the prefill preview
decided as the agency would be and written to the access log, a document's reads with the
agreements that give them, and explain's answer field by field (logged too)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.admin.documents import service as documents
from gateway.audit.models import AccessLogEntry
from gateway.graph.schema import build_schema
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import console, factories
from tests.console import csrf_of, hidden, text_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = json.loads((ROOT / "infra" / "sample" / "policy.json").read_text(encoding="utf-8"))
STEWARDS = {  # username: (sub, realm roles)
    "lan": ("steward-lan", ["steward"]),
    "minh": ("steward-minh", ["steward"]),
    "hoa": ("steward-hoa", ["steward", "steward:population"]),
    "an": ("steward-an", ["steward", "admin"]),
}
NAME = "Trương Thị Thu Hà"
DOCUMENT = "query KiemTraDoanhNghiep($code: ID!) { enterprise(code: $code) { name status } }"
CT01 = (ROOT / "graphql" / "forms" / "CT01.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
async def resident_id(committed_database_url: str) -> str:
    """The sample's agencies, purposes and agreements; one resident; one agency document
    proposed by steward Lan."""
    settings = Settings(database_url=committed_database_url)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            resident = await factories.make_resident(session, full_name=NAME, sex="female")
            await documents.propose(
                session=session, schema=build_schema()._schema, agency="thue-hcm",
                purpose="DKKD", text=DOCUMENT, actor="steward-lan", published=frozenset(),
            )  # fmt: skip
    finally:
        await engine.dispose()
    return resident.personal_id


@pytest.fixture(scope="module")
def console_users(resident_id: str) -> list[dict[str, Any]]:
    """The stewards (tests/conftest.py starts the stand-in with them, once the data is in)."""
    return console.stewards(STEWARDS)


async def steward(browser: Callable[[], httpx.AsyncClient], username: str) -> httpx.AsyncClient:
    http = browser()
    await console.sign_in(http, username)
    return http


async def log_entries(settings: Settings, subject_id: str, operation: str) -> list[AccessLogEntry]:
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            found = await session.execute(
                select(AccessLogEntry).where(
                    AccessLogEntry.subject_id == subject_id, AccessLogEntry.operation == operation
                )
            )
            return list(found.scalars())
    finally:
        await engine.dispose()


# -- every page, both languages, labelled inputs ---------------------------------------------------

PAGES = {  # path: (a Vietnamese text on it, its English)
    "/console/purposes": ("Danh mục mục đích", "The purpose catalogue"),
    "/console/purposes/new": ("Đề xuất mục đích mới", "Propose a new purpose"),
    "/console/purposes/CT01": ("Mục đích CT01", "Purpose CT01"),
    "/console/forms": ("Biểu mẫu điền sẵn", "Prefill forms"),
    "/console/forms/new": ("Soạn biểu mẫu mới", "Write a new form"),
    "/console/forms/CT01": ("Sửa biểu mẫu (YAML)", "Edit the form (YAML)"),
    "/console/documents": ("Truy vấn của cơ quan", "Agency documents"),
    "/console/documents/thue-hcm/KiemTraDoanhNghiep": ("Những gì truy vấn đọc", "What it reads"),
    "/console/explain": ("Giải thích quyết định", "Explain a decision"),
}


async def test_every_page_renders_in_both_languages_with_labelled_inputs(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    for path, (vietnamese, english) in PAGES.items():
        page = await http.get(path, params={"lang": "vi"})
        assert page.status_code == 200, (path, text_of(page)[:2000])
        assert '<html lang="vi">' in page.text and vietnamese in page.text, path
        assert 'aria-current="page"' in page.text, path  # its place in the navigation
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page.text))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page.text):
            if 'type="hidden"' in tag:
                continue
            found = re.search(r'id="([^"]+)"', tag)
            assert found and found.group(1) in labelled, (path, tag)
        assert "<script" not in page.text and "style=" not in page.text
        english_page = await http.get(path, params={"lang": "en"})
        assert english_page.status_code == 200
        assert '<html lang="en">' in english_page.text and english in english_page.text, path
    await http.get("/console/", params={"lang": "vi"})


async def test_anonymous_and_forged_posts_change_nothing(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    anonymous = browser()
    for path in ("/console/purposes", "/console/forms/CT01", "/console/explain"):
        assert (await anonymous.get(path)).status_code == 303
    http = await steward(browser, "lan")
    forged = await http.post("/console/forms/CT01", data={"csrf": "x", "template": CT01})
    assert forged.status_code == 403
    assert "CSRF" in forged.text


# -- purposes ------------------------------------------------------------------------------------


async def test_bad_input_on_a_purpose_is_shown_at_its_input(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    csrf = csrf_of(await http.get("/console/purposes/new"))
    answer = await http.post("/console/purposes/new", data={
        "csrf": csrf, "code": "khong hop le", "title": "", "procedure": "Thủ tục thử",
    })  # fmt: skip
    assert answer.status_code == 422
    assert 'href="#code"' in answer.text and 'href="#title"' in answer.text
    assert "String should match pattern" in text_of(answer)
    assert 'id="title" name="title" value="" maxlength="300" size="60" required' in answer.text
    assert 'value="Thủ tục thử"' in answer.text  # what was typed is kept
    exists = await http.post("/console/purposes/new", data={
        "csrf": csrf, "code": "CT01", "title": "Trùng", "procedure": "Trùng",
    })  # fmt: skip
    assert exists.status_code == 409
    assert "purpose 'CT01' exists: edit it instead" in text_of(exists)
    listed = await http.get("/console/purposes")
    assert "khong hop le" not in listed.text


async def test_a_purpose_is_proposed_and_decided_by_the_administrator_not_its_proposer(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    lan, minh, an = [await steward(browser, name) for name in ("lan", "minh", "an")]
    csrf = csrf_of(await lan.get("/console/purposes/new"))
    proposed = await lan.post("/console/purposes/new", data={
        "csrf": csrf, "code": "BHXH-01", "title": "Cấp sổ bảo hiểm xã hội",
        "procedure": "Cấp sổ BHXH lần đầu", "case_bound": "on",
    })  # fmt: skip
    assert proposed.status_code == 303, text_of(proposed)[:2000]
    page = await lan.get(proposed.headers["location"])
    assert "Đã gửi đề xuất" in page.text and "mới đề xuất" in page.text
    own = await lan.post("/console/purposes/BHXH-01/approve", data={
        "csrf": csrf_of(page), "proposal": hidden(page, "proposal"),
    })  # fmt: skip
    assert own.status_code == 403
    assert "four-eyes: steward-lan proposed this purpose" in text_of(own)
    theirs = await minh.get("/console/purposes/BHXH-01")
    scope = await minh.post("/console/purposes/BHXH-01/approve", data={
        "csrf": csrf_of(theirs), "proposal": hidden(theirs, "proposal"),
    })  # fmt: skip
    assert scope.status_code == 403
    assert "needs a steward of: platform" in text_of(scope)
    review = await an.get("/console/purposes/BHXH-01")
    no_note = await an.post("/console/purposes/BHXH-01/reject", data={
        "csrf": csrf_of(review), "proposal": hidden(review, "proposal"), "note": "",
    })  # fmt: skip
    assert no_note.status_code == 422
    assert "say why you reject it" in text_of(no_note)
    approved = await an.post("/console/purposes/BHXH-01/approve", data={
        "csrf": csrf_of(review), "proposal": hidden(review, "proposal"),
    })  # fmt: skip
    assert approved.status_code == 303
    shown = await an.get(approved.headers["location"])
    assert "đang có hiệu lực" in shown.text and "Cấp sổ bảo hiểm xã hội" in shown.text

    # a change to it: proposed against the version in force, which stays until approved
    shown = await lan.get("/console/purposes/BHXH-01")
    change = await lan.post("/console/purposes/BHXH-01/edit", data={
        "csrf": csrf_of(shown), "version": hidden(shown, "version"),
        "title": "Cấp, cấp lại sổ bảo hiểm xã hội", "procedure": "Cấp sổ BHXH",
    })  # fmt: skip
    assert change.status_code == 303, text_of(change)[:2000]
    pending = await an.get("/console/purposes/BHXH-01")
    diff = pending.text[pending.text.index('id="diff"') :]
    assert "Cấp, cấp lại sổ bảo hiểm xã hội</ins>" in diff
    assert "Cấp sổ bảo hiểm xã hội</del>" in diff
    stale = await lan.post("/console/purposes/BHXH-01/edit", data={
        "csrf": csrf_of(shown), "version": "1", "title": "x", "procedure": "y",
    })  # fmt: skip
    assert stale.status_code == 412
    rejected = await an.post("/console/purposes/BHXH-01/reject", data={
        "csrf": csrf_of(pending), "proposal": hidden(pending, "proposal"), "note": "chưa rõ",
    })  # fmt: skip
    assert rejected.status_code == 303
    after = await an.get("/console/purposes/BHXH-01")
    assert "Cấp sổ bảo hiểm xã hội" in after.text and "chưa rõ" in after.text
    assert 'id="proposal"' not in after.text


# -- forms ---------------------------------------------------------------------------------------


def _editor(page: httpx.Response, template: str, **more: str) -> dict[str, str]:
    return {"csrf": csrf_of(page), "etag": hidden(page, "etag"), "template": template, **more}


async def test_a_form_with_a_compile_error_shows_it_at_its_line_and_is_not_saved(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    page = await http.get("/console/forms/CT01")
    assert "household.head.fullName" in page.text  # the form in force, in the editor
    wrong = CT01.replace("path: birthDate", "path: birthDay")
    line = next(i for i, text in enumerate(wrong.splitlines(), 1) if "birthDay" in text)
    answer = await http.post("/console/forms/CT01", data=_editor(page, wrong, do="save"))
    assert answer.status_code == 422
    said = text_of(answer)
    assert f"Dòng {line}" in said and "fields[1].path" in said
    assert "Resident has no field 'birthDay'" in said
    assert "Chưa lưu gì" in said
    assert (
        'aria-invalid="true"' in answer.text
        and 'aria-describedby="template-hint template-errors"' in answer.text
    )
    assert "path: birthDay" in answer.text  # what was typed is kept
    # a YAML that does not parse, and a template of the wrong shape: each at its line
    broken = await http.post("/console/forms/CT01", data=_editor(page, CT01 + "  - key: [\n"))
    assert broken.status_code == 422 and "YAML:" in text_of(broken)
    assert re.search(r"Dòng \d+", text_of(broken))
    shapeless = CT01.replace("subject_type: Resident\n", "subject_type: Resident\nmau: 2\n")
    extra = await http.post("/console/forms/CT01", data=_editor(page, shapeless))
    assert extra.status_code == 422 and "Extra inputs are not permitted" in text_of(extra)
    assert "mau" in text_of(extra)
    no_purpose = CT01.replace("purpose: CT01", "purpose: KHONG")
    unknown = await http.post("/console/forms/CT01", data=_editor(page, no_purpose))
    assert unknown.status_code == 422
    assert "no purpose 'KHONG' in the catalogue" in text_of(unknown)
    after = await http.get("/console/forms/CT01")
    assert 'id="proposal"' not in after.text  # nothing was proposed


async def test_a_form_is_proposed_refused_to_its_proposer_and_approved_by_the_registry(
    browser: Callable[[], httpx.AsyncClient], resident_id: str
) -> None:
    lan, hoa = [await steward(browser, name) for name in ("lan", "hoa")]
    page = await lan.get("/console/forms/CT01")
    changed = CT01.replace("label: Dân tộc", "label: Dân tộc (theo CCCD)")
    saved = await lan.post("/console/forms/CT01", data=_editor(page, changed, do="save"))
    assert saved.status_code == 303, text_of(saved)[:3000]
    proposal = await lan.get(saved.headers["location"])
    assert "Đã gửi đề xuất" in proposal.text
    diff = proposal.text[proposal.text.index('id="diff"') :]
    assert "Dân tộc (theo CCCD)</ins>" in diff and "label: Dân tộc</del>" in diff
    assert "population" in text_of(proposal)  # the registries it reads decide it
    own = await lan.post("/console/forms/CT01/approve", data={
        "csrf": csrf_of(proposal), "proposal": hidden(proposal, "proposal"),
    })  # fmt: skip
    assert own.status_code == 403
    assert "four-eyes: steward-lan proposed this form" in text_of(own)
    assert "four_eyes" in own.text
    review = await hoa.get("/console/forms/CT01")
    approved = await hoa.post("/console/forms/CT01/approve", data={
        "csrf": csrf_of(review), "proposal": hidden(review, "proposal"),
    })  # fmt: skip
    assert approved.status_code == 303
    in_force = await hoa.get(approved.headers["location"])
    assert "Dân tộc (theo CCCD)" in in_force.text and 'id="proposal"' not in in_force.text
    assert "do cán bộ phê duyệt" in in_force.text  # a steward's version, no longer the file's
    # the preview fills the form in force's labels now
    preview = await hoa.post("/console/forms/CT01", data=_editor(
        in_force, hidden_template(in_force), do="preview", agency="motcua-danang",
        subject=resident_id,
    ))  # fmt: skip
    assert preview.status_code == 200
    assert "Dân tộc (theo CCCD)" in text_of(preview)


def hidden_template(page: httpx.Response) -> str:
    found = re.search(r'<textarea id="template"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert found
    return html.unescape(found.group(1))


async def test_the_preview_fills_the_form_as_the_agency_would_and_is_logged(
    browser: Callable[[], httpx.AsyncClient], resident_id: str, console_settings: Settings
) -> None:
    http = await steward(browser, "lan")
    page = await http.get("/console/forms/CT01")
    assert 'value="motcua-danang" selected' in page.text  # served by an agreement: chosen
    before = await log_entries(console_settings, resident_id, "console form preview")
    shown = await http.post("/console/forms/CT01", data=_editor(
        page, hidden_template(page), do="preview", agency="motcua-danang", subject=resident_id,
    ))  # fmt: skip
    assert shown.status_code == 200, text_of(shown)[:3000]
    result = text_of(shown)[text_of(shown).index("Dữ liệu điền sẵn cho") :]
    assert NAME in result and "1985-03-02" in result
    assert "residents ·" in result  # provenance: the registry and the record's version
    assert "Lần xem này đã được ghi vào nhật ký truy cập" in result
    logged = await log_entries(console_settings, resident_id, "console form preview")
    assert len(logged) == len(before) + 1
    entry = max(logged, key=lambda e: e.entry_id)
    assert entry.agency == "steward-console" and entry.officer == "steward-lan"
    assert entry.purpose == "oversight" and entry.decision["outcome"] == "oversight"
    assert entry.decision["filter"] == {"form": "CT01", "agency": "motcua-danang",
                                        "purpose": "CT01"}  # fmt: skip
    assert "fullName" in entry.fields_given

    # an agency with no agreement for the purpose: refused whole, as it would be (and logged)
    bank = await http.post("/console/forms/CT01", data=_editor(
        page, hidden_template(page), do="preview", agency="nganhang-abc", subject=resident_id,
    ))  # fmt: skip
    assert bank.status_code == 200
    assert "no agreement in force or consent covers this subject" in text_of(bank)
    assert NAME not in text_of(bank)
    assert len(await log_entries(console_settings, resident_id, "console form preview")) == (
        len(before) + 2
    )
    # a subject that is no personal ID: said at its input, nothing read, nothing logged
    bad = await http.post("/console/forms/CT01", data=_editor(
        page, hidden_template(page), do="preview", agency="motcua-danang", subject="12345",
    ))  # fmt: skip
    assert bad.status_code == 422
    assert 'id="subject-error"' in bad.text and 'aria-invalid="true"' in bad.text
    no_agency = await http.post("/console/forms/CT01", data=_editor(
        page, hidden_template(page), do="preview", agency="", subject=resident_id,
    ))  # fmt: skip
    assert no_agency.status_code == 422 and 'id="agency-error"' in no_agency.text
    assert len(await log_entries(console_settings, resident_id, "console form preview")) == (
        len(before) + 2
    )


async def test_a_new_form_needs_a_code_and_compiles_before_it_is_proposed(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    http = await steward(browser, "lan")
    page = await http.get("/console/forms/new")
    template = hidden_template(page)
    nameless = await http.post("/console/forms/new", data={
        "csrf": csrf_of(page), "code": "", "template": template, "do": "save",
    })  # fmt: skip
    assert nameless.status_code == 422 and 'id="code-error"' in nameless.text
    other = await http.post("/console/forms/new", data={
        "csrf": csrf_of(page), "code": "TT-09", "template": template, "do": "save",
    })  # fmt: skip
    assert other.status_code == 422  # the template says MOI-01
    assert "this form's code is TT-09" in text_of(other)
    created = await http.post("/console/forms/new", data={
        "csrf": csrf_of(page), "code": "MOI-01", "template": template, "do": "save",
    })  # fmt: skip
    assert created.status_code == 303, text_of(created)[:3000]
    listed = await http.get("/console/forms")
    assert "MOI-01" in listed.text and "mới đề xuất" in listed.text


# -- agency documents ------------------------------------------------------------------------------


async def test_a_document_is_reviewed_with_what_it_reads_under_four_eyes(
    browser: Callable[[], httpx.AsyncClient],
) -> None:
    lan, hoa, an = [await steward(browser, name) for name in ("lan", "hoa", "an")]
    queue = await lan.get("/console/documents")
    assert "thue-hcm/KiemTraDoanhNghiep" in queue.text
    path = "/console/documents/thue-hcm/KiemTraDoanhNghiep"
    page = await lan.get(path)
    reach = page.text[page.text.index('id="reach"') :]
    assert "Enterprise.name" in reach and "Enterprise.status" in reach
    assert "thue-hcm/DKKD/Enterprise" in reach  # the agreement that gives each read
    assert "enterprise" in page.text  # the registry that must approve it
    data = {"csrf": csrf_of(page), "version": hidden(page, "version")}
    own = await lan.post(f"{path}/approve", data=data)
    assert own.status_code == 403 and "four_eyes" in own.text
    wrong_registry = await hoa.post(f"{path}/approve", data={**data, "csrf": csrf_of(
        await hoa.get(path))})  # fmt: skip
    assert wrong_registry.status_code == 403
    assert "needs a steward of: enterprise" in text_of(wrong_registry)
    review = await an.get(path)
    no_note = await an.post(f"{path}/reject", data={
        "csrf": csrf_of(review), "version": hidden(review, "version"), "note": "",
    })  # fmt: skip
    assert no_note.status_code == 422 and "say why you reject it" in text_of(no_note)
    assert (await lan.get("/console/documents?status=approved")).status_code == 200
    bad_status = await lan.get("/console/documents?status=lost")
    assert bad_status.status_code == 422


# -- explain -----------------------------------------------------------------------------------


async def test_explain_answers_field_by_field_and_is_logged(
    browser: Callable[[], httpx.AsyncClient], resident_id: str, console_settings: Settings
) -> None:
    http = await steward(browser, "hoa")
    answer = await http.get("/console/explain", params=[
        ("agency", "motcua-danang"), ("purpose", "CT01"), ("type", "Resident"),
        ("subject", resident_id), ("field", "fullName"), ("field", "deceased"), ("ask", "1"),
    ])  # fmt: skip
    assert answer.status_code == 200, text_of(answer)[:3000]
    given = answer.text[answer.text.index('id="explained-fullName"') :]
    given = given[: given.index("</tr>")]
    assert "được cung cấp" in given and "motcua-danang/CT01/Resident" in given
    assert "Luật" in given  # the legal basis it was given under
    refused = answer.text[answer.text.index('id="explained-deceased"') :]
    assert "bị từ chối" in refused[: refused.index("</tr>")]
    assert NAME not in answer.text  # explain discloses no value
    logged = await log_entries(console_settings, resident_id, "explain")
    assert logged and logged[-1].officer == "steward-hoa"
    assert logged[-1].decision["filter"]["agency"] == "motcua-danang"

    bad = await http.get("/console/explain", params=[
        ("agency", "motcua-danang"), ("purpose", "CT01"), ("type", "Resident"),
        ("subject", "12"), ("field", "fullName"), ("ask", "1"),
    ])  # fmt: skip
    assert bad.status_code == 422
    assert 'href="#subject"' in bad.text and 'id="subject-error"' in bad.text
    nothing = await http.get("/console/explain", params={"type": "Parcel", "ask": "1"})
    assert nothing.status_code == 422
    for name in ("agency", "purpose", "subject", "field"):
        assert f'id="{name}-error"' in nothing.text
    assert 'value="rights"' in nothing.text  # the Parcel type's fields to tick
    unknown_field = await http.get("/console/explain", params=[
        ("agency", "motcua-danang"), ("purpose", "CT01"), ("type", "Resident"),
        ("subject", resident_id), ("field", "shoeSize"), ("ask", "1"),
    ])  # fmt: skip
    assert unknown_field.status_code == 422
    assert "Resident has no field shoeSize" in text_of(unknown_field)
