"""The citizens' data tracker (/me) in a real browser: Debian's headless Chromium (Selenium,
Debian's chromedriver), a real `lienthong serve` and the OIDC stand-in (tests/oidc) as separate
processes, no network beyond loopback.

A citizen signs in on the provider's login page, gives the bank (the sample policy's
consent-based agreement: `nganhang-abc`, loan appraisal `TD-VAY`) their consent — first with no
field ticked, which the page refuses at the input — and the bank's next GraphQL request (real
HTTP) reads them. The citizen finds that read under "who looked at my data", with the bank's name
and the fields' labels, withdraws the consent, and the bank's next request is refused. Every
request the browser made stayed on loopback; each page is photographed into docs/console/ for
docs/console.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from tests.browser import Person, assert_stayed_on, failure, policy_violations

NAME = "Trịnh Thị Thu Hà"  # the resident tests/e2e/conftest.py makes
USERNAME, PASSWORD = "ha", "ha-e2e"
BANK, LOAN = "nganhang-abc", "TD-VAY"
READ = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"


@pytest.fixture(scope="module")
def console_users(resident_id: str) -> list[dict[str, Any]]:
    """Hà, a citizen (tests/conftest.py starts the stand-in with her)."""
    return [{"username": USERNAME, "password": PASSWORD, "roles": ["citizen"], "name": NAME,
             "claims": {"citizen_id": resident_id}}]  # fmt: skip


def bank_reads(console: str, home: Path, resident_id: str) -> Any:
    """The bank's loan-appraisal request for the resident (real HTTP, a dev-issuer token)."""
    token = DevIssuer(Settings(home=home, public_url=console)).mint(agency=BANK)
    answer = httpx.post(
        f"{console}/graphql",
        json={"query": READ, "variables": {"id": resident_id}},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": LOAN,
                 "X-Officer": "tham-dinh-01"},
        timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_citizen_consents_sees_the_banks_read_and_withdraws(
    console: str, oidc: str, browser: Chrome, home: Path, resident_id: str, tmp_path: Path
) -> None:
    before = bank_reads(console, home, resident_id)
    assert before["data"]["resident"] is None
    assert before["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    ha = Person(browser, console)
    offer = f"#offer-{BANK}-{LOAN}"
    try:
        # signing in: the console's page, the provider's login page, back to /me
        ha.open("/me/")
        assert urlsplit(browser.current_url).path == "/me/sign-in"
        ha.photograph("me-sign-in")
        ha.click("#sign-in")
        assert urlsplit(browser.current_url).netloc == urlsplit(oidc).netloc
        ha.type("input[name=login]", USERNAME)
        ha.type("input[name=password]", PASSWORD)
        ha.click("button[type=submit]")
        ha.wait.until(lambda b: urlsplit(b.current_url).path == "/me/")
        ha.settle()
        assert resident_id in ha.text()

        # the bank's offer: with no field ticked, refused at the input
        ha.click("a[href='/me/consents']")
        assert "Ngân hàng thương mại cổ phần ABC" in ha.text(offer)
        assert "Họ, chữ đệm và tên" in ha.text(offer)
        for box in browser.find_elements(By.CSS_SELECTOR, f"{offer} input[name=fields]"):
            if box.is_selected():
                box.click()
        ha.click(f"{offer} button.grant")
        assert "Hãy chọn ít nhất một trường dữ liệu" in ha.text("#form-errors")
        fields = browser.find_element(By.CSS_SELECTOR, f"#fields-{BANK}-{LOAN}")
        assert fields.get_attribute("aria-invalid") == "true"
        ha.photograph("me-consent-error")
        for name in ("fullName", "birthDate"):
            browser.find_element(By.ID, f"field-{BANK}-{LOAN}-{name}").click()
        ha.click(f"{offer} button.grant")
        assert "Đã ghi nhận sự đồng ý" in ha.text("#done")
        assert "đang có hiệu lực" in ha.text("#consents")
        ha.photograph("me-consents")

        # the bank reads; the citizen sees it, by name and with the fields' labels
        read = bank_reads(console, home, resident_id)
        assert read["data"]["resident"]["fullName"] == NAME
        ha.click("a[href='/me/']")
        log = ha.text("#access-log")
        assert "Ngân hàng thương mại cổ phần ABC" in log
        assert "Thẩm định hồ sơ vay vốn" in log and "tham-dinh-01" in log
        assert "Họ, chữ đệm và tên" in log and "Ngày, tháng, năm sinh" in log
        ha.photograph("me-log")
        ha.open("/me/?lang=en")
        assert "Who looked at my data" in ha.text("h1")
        ha.photograph("me-log-en")
        ha.open("/me/?lang=vi")

        # withdrawn: the bank's next request is refused
        ha.click("a[href='/me/consents']")
        ha.click("#consents button.revoke")
        assert "Đã rút lại sự đồng ý" in ha.text("#done")
        assert "đã rút lại ngày" in ha.text("#consents")
        ha.photograph("me-consent-withdrawn")
    except (TimeoutException, AssertionError) as failed:
        raise failure(browser, tmp_path, failed) from failed

    after = bank_reads(console, home, resident_id)
    assert after["data"]["resident"] is None
    assert after["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Every request the browser made, the provider's login page's included, stayed on loopback
    ha.collect()
    gateway_origin, provider_origin = urlsplit(console).netloc, urlsplit(oidc).netloc
    network = assert_stayed_on(ha.requests, console, oidc)
    assert {urlsplit(r.url).netloc for r in network} == {gateway_origin, provider_origin}
    # the pages broke none of their Content-Security-Policy
    assert not policy_violations(browser)
