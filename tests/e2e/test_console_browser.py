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

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
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
from selenium.webdriver.support.ui import Select, WebDriverWait

from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from tests import openid
from tests.net import free_port, lienthong_serve

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "console"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's chromium-driver, the same build
DEMO_STEWARDS = json.loads((ROOT / "infra" / "demo" / "users.json").read_text(encoding="utf-8"))
PASSWORDS = {user["username"]: user["password"] for user in DEMO_STEWARDS}
STEWARD_A, STEWARD_B = "lan", "hoa"  # a steward; the population registry's steward
CONSOLE_SECRET = "s3cret-console-e2e"
NAME = "Võ Thị Bích Ngọc"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName } }"
WAIT_SECONDS = 60  # a cold Chromium on a loaded 2-core machine


@pytest.fixture(scope="module")
def gateway_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def oidc(gateway_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    clients = [{
        "client_id": "steward-console", "client_secret": CONSOLE_SECRET,
        "redirect_uris": [f"http://127.0.0.1:{gateway_port}/console/callback"],
    }]  # fmt: skip
    try:
        with openid.openid_stand_in(
            clients, tmp_path_factory.mktemp("oidc"), users=DEMO_STEWARDS
        ) as url:
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture(scope="module")
def console(
    committed_database_url: str, home: Path, resident_id: str, oidc: str, gateway_port: int
) -> Iterator[str]:
    """A real dev `lienthong serve` whose console signs people in at the stand-in."""
    env = {
        **os.environ,
        "LIENTHONG_ENV": "dev",
        "LIENTHONG_DATABASE_URL": committed_database_url,
        "LIENTHONG_HOME": str(home),
        "LIENTHONG_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
        "LIENTHONG_CONSOLE_OIDC_URL": oidc,
        "LIENTHONG_CONSOLE_CLIENT_SECRET": CONSOLE_SECRET,
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


@dataclass(frozen=True)
class Request:
    url: str
    document: str  # the page that asked for it (a navigation: the page it goes to)


class Person:
    """A steward at the browser: what they click and type, and what the pages show them."""

    def __init__(self, browser: Chrome, console: str, requests: list[Request]) -> None:
        self.browser = browser
        self.console = console
        self.wait = WebDriverWait(browser, WAIT_SECONDS)
        self.requests = requests  # every URL the browser asked for, whoever was at it

    def open(self, path: str) -> None:
        self.browser.get(f"{self.console}{path}")
        self.settle()

    def settle(self) -> None:
        self.wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
        self.collect()

    def collect(self) -> None:
        for entry in self.browser.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                params = message["params"]
                self.requests.append(Request(params["request"]["url"], params["documentURL"]))

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

    def sign_in(self, username: str) -> None:
        """From the console's sign-in page to the provider's login page and back."""
        self.open("/console/")
        assert urlsplit(self.browser.current_url).path == "/console/sign-in"
        self.click("#sign-in")
        self.wait.until(lambda b: b.find_elements(By.NAME, "password"))
        self.type("input[name=login]", username)
        self.type("input[name=password]", PASSWORDS[username])
        self.click("button[type=submit]")
        self.wait.until(lambda b: urlsplit(b.current_url).path == "/console/")
        self.settle()

    def sign_out(self) -> None:
        """Out of the console, and of the provider's own session (another person comes)."""
        self.click("form[action='/console/sign-out'] button")
        assert "Bạn đã đăng xuất" in self.text()
        self.browser.execute_cdp_cmd("Network.clearBrowserCookies", {})

    def photograph(self, name: str) -> None:
        """The whole page, beyond the window, as docs/console/<name>.png."""
        size = self.browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.browser.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        })  # fmt: skip
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def _graphql(console: str, home: Path, resident_id: str, agency: str, purpose: str) -> Any:
    token = DevIssuer(Settings(home=home, public_url=console)).mint(agency=agency)
    answer = httpx.post(
        f"{console}/graphql",
        json={"query": RESIDENT, "variables": {"id": resident_id}},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": purpose},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_two_stewards_agree_an_agreement_and_the_agency_gets_the_field(
    console: str, oidc: str, browser: Chrome, home: Path, resident_id: str, tmp_path: Path
) -> None:
    # some traffic for the dashboard's chart: allowed reads, and a refused one
    for agency, purpose in (("motcua-danang", "CT01"), ("motcua-danang", "CT01"),
                            ("thue-hcm", "DKKD"), ("motcua-danang", "CPXD")):  # fmt: skip
        _graphql(console, home, resident_id, agency, purpose)
    before = _graphql(console, home, resident_id, "motcua-danang", "CPXD")
    assert before["data"]["resident"] is None
    assert before["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    requests: list[Request] = []
    person = Person(browser, console, requests)
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
        browser.save_screenshot(str(tmp_path / "failed.png"))
        logs = [entry["message"] for entry in browser.get_log("browser")]
        raise AssertionError(
            f"{failed!r} at {browser.current_url}; screenshot {tmp_path / 'failed.png'}; "
            f"console {logs[-5:]}"
        ) from failed

    after = _graphql(console, home, resident_id, "motcua-danang", "CPXD")  # the next request
    assert after["data"]["resident"]["fullName"] == NAME
    assert "errors" not in after

    # Every request the browser made stayed on loopback, the provider's login page's included
    # (the stand-in's own page loads nothing: tests/oidc/server.mjs)
    person.collect()
    gateway_origin, provider_origin = urlsplit(console).netloc, urlsplit(oidc).netloc
    assert any(r.url.startswith(console) for r in requests)
    assert any(urlsplit(r.url).netloc == provider_origin for r in requests)  # the login
    network = [r for r in requests if urlsplit(r.url).scheme in {"http", "https", "ws", "wss"}]
    elsewhere = [r for r in network if urlsplit(r.url).hostname != "127.0.0.1"]
    assert elsewhere == [], elsewhere
    from_console = [r for r in network if urlsplit(r.document).netloc == gateway_origin]
    assert from_console
    assert all(urlsplit(r.url).netloc in {gateway_origin, provider_origin} for r in from_console)
    # the console's pages broke none of their Content-Security-Policy
    console_log = [entry["message"] for entry in browser.get_log("browser")]
    assert not [m for m in console_log if "Content Security Policy" in m and console in m]
