"""The console's forms, purposes, agency documents and explain pages in a real browser: Debian's
headless Chromium (Selenium, Debian's chromedriver), a real `lienthong serve` and the OIDC
stand-in (tests/oidc) as separate processes, the demo's stewards (infra/demo/users.json), no
network beyond loopback.

A steward signs in, opens form CT01, breaks a field's path: the compiler's error is shown next to
the editor at its line, and nothing is saved. She fixes it, previews the prefill for a sample
resident as the one-stop centre would get it (the resident's name and birth date in the form's
Vietnamese labels), and submits it for approval. Every request the browser made stayed on
loopback; each page is photographed into docs/console/ for docs/console.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from gateway.admin.documents import service as documents
from gateway.graph.schema import build_schema
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests.browser import Person, assert_stayed_on, failure, policy_violations

ROOT = Path(__file__).resolve().parents[2]
DEMO_STEWARDS = json.loads((ROOT / "infra" / "demo" / "users.json").read_text(encoding="utf-8"))
PASSWORDS = {user["username"]: user["password"] for user in DEMO_STEWARDS}
NAME = "Hoàng Thị Minh Thư"  # the sample resident (tests/e2e/conftest.py makes her)
DOCUMENT = "query KiemTraDoanhNghiep($code: ID!) { enterprise(code: $code) { name status } }"


@pytest.fixture(scope="module")
async def proposed_document(committed_database_url: str, resident_id: str) -> str:
    """An agency document waiting for review (proposed by steward Lan)."""
    engine = create_engine(Settings(database_url=committed_database_url), pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            document = await documents.propose(
                session=session, schema=build_schema()._schema, agency="thue-hcm",
                purpose="DKKD", text=DOCUMENT, actor="steward-lan", published=frozenset(),
            )  # fmt: skip
    finally:
        await engine.dispose()
    return document.document_id


@pytest.fixture(scope="module")
def console_data(resident_id: str, proposed_document: str) -> None:
    """The sample, its resident and the document, before the console starts."""


@pytest.fixture(scope="module")
def console_users() -> list[dict[str, Any]]:
    """The demo's stewards (tests/conftest.py starts the stand-in with them)."""
    return list(DEMO_STEWARDS)


def test_a_steward_fixes_a_form_previews_its_prefill_and_submits_it(
    console: str, oidc: str, browser: Chrome, resident_id: str, tmp_path: Path
) -> None:
    lan = Person(browser, console, passwords=PASSWORDS)
    try:
        lan.sign_in("lan")
        lan.open("/console/forms")
        assert "CT01" in lan.text("#forms")
        lan.photograph("forms")
        lan.click("a[href='/console/forms/CT01']")
        original = lan.value("#template")
        assert "path: birthDate" in original

        # a path the schema does not have: shown beside the editor, at its line; not saved
        broken = original.replace("path: birthDate", "path: birthDay")
        line = next(i for i, text in enumerate(broken.splitlines(), 1) if "birthDay" in text)
        lan.type("#template", broken)
        lan.click("#save")
        errors = lan.text("#template-errors")
        assert f"Dòng {line}" in errors and "fields[1].path" in errors
        assert "Resident has no field 'birthDay'" in errors and "Chưa lưu gì" in errors
        assert lan.browser.find_element(By.ID, "template").get_attribute("aria-invalid") == "true"
        assert "birthDay" in lan.value("#template")  # what she typed is kept
        assert not lan.browser.find_elements(By.ID, "proposal")
        lan.photograph("form-error")

        # fixed (and a label made clearer), then previewed for a sample resident
        fixed = broken.replace("path: birthDay", "path: birthDate").replace(
            "label: Giới tính", "label: Giới tính (nam/nữ)"
        )
        lan.type("#template", fixed)
        Select(lan.browser.find_element(By.ID, "agency")).select_by_value("motcua-danang")
        lan.type("#subject", resident_id)
        lan.click("#preview")
        assert not lan.browser.find_elements(By.ID, "template-errors")
        preview = lan.text("#prefill")
        assert NAME in preview and "Giới tính (nam/nữ)" in preview
        assert "Họ, chữ đệm và tên" in preview and "residents" in preview
        assert "nhật ký truy cập" in lan.text("#preview-result")
        lan.photograph("form-preview")

        # submitted: a proposal the population registry's steward decides
        lan.click("#save")
        assert "Đã gửi đề xuất" in lan.text("#done")
        assert "Giới tính (nam/nữ)" in lan.text("#diff")
        lan.photograph("form-proposal")

        # the other pages of this part, for the docs
        lan.open("/console/purposes")
        assert "CT01" in lan.text("#purposes")
        lan.photograph("purposes")
        lan.open("/console/purposes/CT01")
        lan.photograph("purpose")
        lan.open("/console/documents")
        assert "thue-hcm/KiemTraDoanhNghiep" in lan.text("#documents")
        lan.photograph("documents")
        lan.click("#documents a")
        assert "thue-hcm/DKKD/Enterprise" in lan.text("#reach")
        lan.photograph("document")
        lan.open(f"/console/explain?agency=motcua-danang&purpose=CT01&type=Resident"
                 f"&subject={resident_id}&field=fullName&field=birthDate&field=deceased"
                 f"&ask=1")  # fmt: skip
        assert "được cung cấp" in lan.text("#explained-fullName")
        assert "bị từ chối" in lan.text("#explained-deceased")
        lan.photograph("explain")
        lan.open("/console/forms/CT01?lang=en")
        assert "Edit the form (YAML)" in lan.text("#editor")
        lan.photograph("form-en")
    except (TimeoutException, AssertionError) as failed:
        raise failure(browser, tmp_path, failed) from failed

    # Every request the browser made stayed on loopback, the provider's login page's included
    # (the stand-in's own page loads nothing: tests/oidc/server.mjs), checked as
    # tests/e2e/test_console_browser.py checks it
    lan.collect()
    provider_origin = urlsplit(oidc).netloc
    network = assert_stayed_on(lan.requests, console, oidc)
    assert any(r.url.startswith(f"{console}/console/forms") for r in network)
    assert any(urlsplit(r.url).netloc == provider_origin for r in network)  # the login
    assert not policy_violations(browser, console)
