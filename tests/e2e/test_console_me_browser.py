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

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from tests import openid
from tests.net import free_port, lienthong_serve

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "console"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's chromium-driver, the same build
NAME = "Trịnh Thị Thu Hà"  # the resident tests/e2e/conftest.py makes
USERNAME, PASSWORD = "ha", "ha-e2e"
BANK, LOAN = "nganhang-abc", "TD-VAY"
READ = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"
WAIT_SECONDS = 60  # a cold Chromium on a loaded 2-core machine


@pytest.fixture(scope="module")
def gateway_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def oidc(
    gateway_port: int, resident_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    clients: list[dict[str, Any]] = [{
        "client_id": "citizen-portal", "public": True,
        "redirect_uris": [f"http://127.0.0.1:{gateway_port}/me/callback"],
    }]  # fmt: skip
    users: list[dict[str, Any]] = [{
        "username": USERNAME, "password": PASSWORD, "roles": ["citizen"], "name": NAME,
        "claims": {"citizen_id": resident_id},
    }]  # fmt: skip
    try:
        with openid.openid_stand_in(clients, tmp_path_factory.mktemp("oidc"), users=users) as url:
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture(scope="module")
def console(
    committed_database_url: str, home: Path, resident_id: str, oidc: str, gateway_port: int
) -> Iterator[str]:
    """A real dev `lienthong serve` whose /me signs citizens in at the stand-in."""
    env = {
        **os.environ,
        "LIENTHONG_ENV": "dev",
        "LIENTHONG_DATABASE_URL": committed_database_url,
        "LIENTHONG_HOME": str(home),
        "LIENTHONG_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
        "LIENTHONG_CONSOLE_OIDC_URL": oidc,
    }
    with lienthong_serve(env, port=gateway_port) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: `make install` installs Debian's chromium packages")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root (CI), Chromium refuses its sandbox
        "--disable-gpu",
        "--no-first-run",
        # no calls home: on this closed network they fail, many at a time
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1280,900",
        "--lang=vi",
        # Offline, as in a government LAN: no name resolves but the loopback address
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    # every request the pages make (the network domain of the DevTools protocol) and the console
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def browser_log(browser: Chrome, kind: str) -> list[dict[str, Any]]:
    """Chromium's log of `kind` since the last call ("performance": DevTools events)."""
    entries: list[dict[str, Any]] = browser.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


class Citizen:
    """The citizen at the browser: what they click and type, what the pages show them, and every
    URL the browser asked for (with the page that asked)."""

    def __init__(self, browser: Chrome, console: str) -> None:
        self.browser = browser
        self.console = console
        self.wait = WebDriverWait(browser, WAIT_SECONDS)
        self.requests: list[tuple[str, str]] = []

    def open(self, path: str) -> None:
        self.browser.get(f"{self.console}{path}")
        self.settle()

    def settle(self) -> None:
        self.wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
        self.collect()

    def collect(self) -> None:
        for entry in browser_log(self.browser, "performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                params = message["params"]
                self.requests.append((params["request"]["url"], params["documentURL"]))

    def click(self, selector: str) -> None:
        """Click what leads to another page, and wait for that page."""
        page = self.browser.find_element(By.TAG_NAME, "html")
        self.browser.find_element(By.CSS_SELECTOR, selector).click()
        self.wait.until(staleness_of(page))
        self.settle()

    def type(self, selector: str, text: str) -> None:
        found = self.browser.find_element(By.CSS_SELECTOR, selector)
        found.clear()
        found.send_keys(text)

    def text(self, selector: str = "main") -> str:
        return str(self.browser.find_element(By.CSS_SELECTOR, selector).text)

    def photograph(self, name: str) -> None:
        """The whole page, beyond the window, as docs/console/<name>.png."""
        size = self.browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.browser.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        })  # fmt: skip
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


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

    ha = Citizen(browser, console)
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
        browser.save_screenshot(str(tmp_path / "failed.png"))
        logs = [entry["message"] for entry in browser_log(browser, "browser")]
        raise AssertionError(
            f"{failed!r} at {browser.current_url}; screenshot {tmp_path / 'failed.png'}; "
            f"console {logs[-5:]}"
        ) from failed

    after = bank_reads(console, home, resident_id)
    assert after["data"]["resident"] is None
    assert after["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Every request the browser made, the provider's login page's included, stayed on loopback
    ha.collect()
    gateway_origin, provider_origin = urlsplit(console).netloc, urlsplit(oidc).netloc
    network = [(url, page) for url, page in ha.requests
               if urlsplit(url).scheme in {"http", "https", "ws", "wss"}]  # fmt: skip
    assert {urlsplit(url).netloc for url, _ in network} == {gateway_origin, provider_origin}
    assert [url for url, _ in network if urlsplit(url).hostname != "127.0.0.1"] == []
    # the pages broke none of their Content-Security-Policy
    console_log = [entry["message"] for entry in browser_log(browser, "browser")]
    assert not [m for m in console_log if "Content Security Policy" in m]
