"""The stewards' console in a real browser: Debian's headless Chromium (Selenium, Debian's
chromedriver), a real `lienthong serve` and the OIDC stand-in (tests/oidc) as separate
processes, with the demo's stewards (infra/demo/users.json), no network beyond loopback.

Steward A signs in on the provider's login page, drafts an agreement giving the one-stop centre
a resident's name for construction permits (a mistake first, shown at its input), submits it, and
is refused its approval (four-eyes). Steward B, of the population registry, signs in, finds it
waiting, sees the change and approves it; the agency's next GraphQL request (real HTTP) gets the
name. Every request the browser made stayed on loopback; each page is photographed into
docs/console/ for docs/console.md."""

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

from tests.browser import Person as AtTheBrowser
from tests.browser import Request, assert_stayed_on, failure, policy_violations
from tests.console import agency_reads_name

ROOT = Path(__file__).resolve().parents[2]
DEMO_STEWARDS = json.loads((ROOT / "infra" / "demo" / "users.json").read_text(encoding="utf-8"))
PASSWORDS = {user["username"]: user["password"] for user in DEMO_STEWARDS}
STEWARD_A, STEWARD_B = "lan", "hoa"  # a steward; the population registry's steward
NAME = "Võ Thị Bích Ngọc"


@pytest.fixture(scope="module")
def console_users() -> list[dict[str, Any]]:
    """The demo's stewards (tests/conftest.py starts the stand-in with them)."""
    return list(DEMO_STEWARDS)


class Person(AtTheBrowser):
    """A steward at the browser (tests/browser.py), who also signs out."""

    def sign_out(self) -> None:
        """Out of the console, and of the provider's own session (another person comes)."""
        self.click("form[action='/console/sign-out'] button")
        assert "Bạn đã đăng xuất" in self.text()
        self.browser.execute_cdp_cmd("Network.clearBrowserCookies", {})


def test_two_stewards_agree_an_agreement_and_the_agency_gets_the_field(
    console: str, oidc: str, browser: Chrome, home: Path, resident_id: str, tmp_path: Path
) -> None:
    # some traffic for the dashboard's chart: allowed reads, and a refused one
    for agency, purpose in (("motcua-danang", "CT01"), ("motcua-danang", "CT01"),
                            ("thue-hcm", "DKKD"), ("motcua-danang", "CPXD")):  # fmt: skip
        agency_reads_name(console, home, resident_id, agency, purpose)
    before = agency_reads_name(console, home, resident_id, "motcua-danang", "CPXD")
    assert before["data"]["resident"] is None
    assert before["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    requests: list[Request] = []
    person = Person(browser, console, requests, passwords=PASSWORDS)
    try:
        person.open("/console/")
        person.photograph("sign-in")
        person.sign_in(STEWARD_A)
        assert "Nguyễn Thị Lan" in person.text("header")
        assert "motcua-danang" in person.text(".legend")  # the chart's legend
        assert browser.find_elements(By.CSS_SELECTOR, "#disclosures-chart rect")
        person.photograph("dashboard")

        # steward A drafts: first without a legal basis, which the page says at its input
        person.open("/console/agreements")
        person.photograph("agreements")
        person.click("a[href='/console/agreements/new']")
        browser.find_element(By.ID, "type-Resident").click()
        person.click("form[action='/console/agreements/new'] button[type=submit]")
        Select(browser.find_element(By.ID, "agency")).select_by_value("motcua-danang")
        Select(browser.find_element(By.ID, "purpose")).select_by_value("CPXD")
        browser.find_element(By.ID, "field-fullName").click()
        person.click("#save")
        assert "Căn cứ pháp lý" in person.text("#form-errors")
        assert browser.find_element(By.ID, "legal_basis").get_attribute("aria-invalid") == "true"
        assert browser.find_element(By.ID, "field-fullName").is_selected()  # kept
        person.photograph("agreement-form-error")
        person.type("#legal_basis", "Luật Xây dựng 2014, Điều 95")
        person.type("#legal_reference", "50/2014/QH13")
        person.click("#save")
        assert urlsplit(browser.current_url).path.endswith("/motcua-danang/CPXD/Resident")
        assert "Đã lưu bản nháp" in person.text("#done")

        # submitted; steward A may not approve their own
        person.click("#submit")
        assert "chờ phê duyệt" in person.text("#status")
        person.click("#approve")
        refusal = person.text("#refusal")
        assert "four-eyes" in refusal and "four_eyes" in refusal
        person.photograph("agreement-four-eyes")
        person.sign_out()

        # steward B finds it waiting, sees the change, approves
        person.sign_in(STEWARD_B)
        person.open("/console/approvals")
        assert "motcua-danang/CPXD/Resident" in person.text("#approvals")
        person.photograph("approvals")
        person.click("#approvals a")
        diff = person.text("#diff")
        assert "fullName" in diff and "Luật Xây dựng 2014, Điều 95" in diff
        assert browser.find_elements(By.CSS_SELECTOR, "#diff ins")
        person.photograph("agreement-review")
        person.click("#approve")
        assert "Đã phê duyệt" in person.text("#done")
        assert "đã phê duyệt" in person.text("#status")
        person.open("/console/?lang=en")
        assert "Dashboard" in person.text("h1")
        person.photograph("dashboard-en")
    except (TimeoutException, AssertionError) as failed:
        raise failure(browser, tmp_path, failed) from failed

    # the agency's next request
    after = agency_reads_name(console, home, resident_id, "motcua-danang", "CPXD")
    assert after["data"]["resident"]["fullName"] == NAME
    assert "errors" not in after

    # Every request the browser made stayed on loopback, the provider's login page's included
    # (the stand-in's own page loads nothing: tests/oidc/server.mjs)
    person.collect()
    provider_origin = urlsplit(oidc).netloc
    assert any(r.url.startswith(console) for r in requests)
    assert any(urlsplit(r.url).netloc == provider_origin for r in requests)  # the login
    assert_stayed_on(requests, console, oidc)
    # the console's pages broke none of their Content-Security-Policy
    assert not policy_violations(browser, console)
