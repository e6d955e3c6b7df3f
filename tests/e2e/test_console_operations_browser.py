"""The console's operations pages in a real browser: Debian's headless Chromium (Selenium,
Debian's chromedriver), a real `lienthong serve` and the OIDC stand-in (tests/oidc) as separate
processes, with the demo's stewards (infra/demo/users.json), no network beyond loopback.

The platform's administrator registers an agency (a mistake first, shown at its input),
suspends it and is refused its reactivation (four-eyes); a registry load the change-rate guard
stopped is shown with its report; the administrator finds a resident's consents and searches
the access log for that resident, then downloads the search as CSV, whose rows are the page's.
Every request the browser made stayed on loopback; each page is photographed into docs/console/
for docs/console.md."""

from __future__ import annotations

import base64
import csv
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from etl.guard import ChangesRefused
from etl.pipeline import load
from etl.synth import SynthOptions, synthesize
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
ADMINISTRATOR = "an"  # the platform's administrator (role admin)
CONSOLE_SECRET = "s3cret-operations-e2e"
NAME = "Đoàn Thị Hồng Nhung"  # the resident tests/e2e/conftest.py makes
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
def stopped_load(
    committed_database_url: str, home: Path, tmp_path_factory: pytest.TempPathFactory
) -> int:
    """A residents' load, then a re-export renaming a third of them: the guard stops it."""
    settings = Settings(database_url=committed_database_url, home=home)
    out = tmp_path_factory.mktemp("load")
    synthesize(SynthOptions(residents=300, enterprises=0, parcels=0, out=out, seed=5))
    load(settings=settings, target="residents", path=out / "residents.csv")
    with (out / "residents.csv").open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    for number, record in enumerate(records):
        if number % 3 == 0:
            record["full_name"] = f"{record['full_name']} Ngọc"
    renamed = out / "renamed.csv"
    with renamed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    with pytest.raises(ChangesRefused):
        load(settings=settings, target="residents", path=renamed)
    with psycopg.connect(settings.libpq_url) as connection:
        row = connection.execute("SELECT max(run_id) FROM etl_runs").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def console(
    committed_database_url: str,
    home: Path,
    resident_id: str,
    oidc: str,
    gateway_port: int,
    stopped_load: int,
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


def browser_log(browser: Chrome, kind: str) -> list[dict[str, Any]]:
    """Chromium's log of `kind` since the last call ("performance": DevTools events)."""
    entries: list[dict[str, Any]] = browser.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


class Steward:
    """A steward at the browser: what they click and type, what the pages show them, and every
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

    def photograph(self, name: str) -> None:
        """The whole page, beyond the window, as docs/console/<name>.png."""
        size = self.browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.browser.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        })  # fmt: skip
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))

    def column(self, table: str, index: int) -> list[str]:
        """The text of one column of a table's body rows."""
        cells = self.browser.find_elements(
            By.CSS_SELECTOR, f"#{table} tbody tr td:nth-child({index})"
        )
        return [str(cell.text) for cell in cells]


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


def _downloaded(folder: Path, name: str) -> Path:
    """The file once Chromium has finished writing it."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = folder / name
        if found.exists() and not list(folder.glob("*.crdownload")):
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {name} in {folder}: {list(folder.iterdir())}")


def test_a_steward_registers_suspends_and_searches_the_access_log(
    console: str, oidc: str, browser: Chrome, home: Path, resident_id: str, stopped_load: int,
    tmp_path: Path,
) -> None:  # fmt: skip
    for agency, purpose in (("motcua-danang", "CT01"), ("motcua-danang", "CT01"),
                            ("thue-hcm", "DKKD")):  # fmt: skip
        _graphql(console, home, resident_id, agency, purpose)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})  # fmt: skip
    steward = Steward(browser, console)
    try:
        steward.sign_in(ADMINISTRATOR)

        # an agency registered: first without a name, which the page says at its input
        steward.open("/console/agencies")
        assert "motcua-danang" in steward.text("#agencies")
        steward.photograph("agencies")
        steward.click("#register")
        steward.type("#client_id", "tuphap-danang")
        steward.type("#kind", "sở tư pháp")
        steward.type("#province", "48")
        steward.click("#save")
        assert "Tên cơ quan" in steward.text("#form-errors")
        assert browser.find_element(By.ID, "name").get_attribute("aria-invalid") == "true"
        assert browser.find_element(By.ID, "client_id").get_attribute("value") == "tuphap-danang"
        steward.photograph("agency-form-error")
        steward.type("#name", "Sở Tư pháp thành phố Đà Nẵng")
        steward.click("#save")
        assert urlsplit(browser.current_url).path == "/console/agencies/tuphap-danang"
        assert "Đã đăng ký cơ quan" in steward.text("#done")

        # suspended; its suspender may not reactivate it
        steward.click("#suspend")
        assert "tạm dừng" in steward.text("#status")
        steward.click("#reactivate")
        refusal = steward.text("#refusal")
        assert "four-eyes" in refusal and "four_eyes" in refusal
        steward.photograph("agency-four-eyes")

        steward.open("/console/alerts")
        steward.photograph("alerts")

        # the load the guard stopped, with its figures
        steward.open("/console/etl")
        assert f"#{stopped_load}" in steward.text("#waiting-runs")
        steward.photograph("etl")
        steward.click(f"#waiting-runs a[href='/console/etl/{stopped_load}']")
        assert "full_name" in steward.text("#guard")
        steward.photograph("etl-run")

        # a resident's consents, and the paper form
        steward.open("/console/consents")
        steward.type("#subject_id", resident_id)
        steward.click("#search")
        assert resident_id in browser.current_url
        steward.photograph("consents")
        steward.open("/console/consents/paper")
        steward.photograph("consent-paper")

        # the access log searched for the resident; the CSV download holds the page's rows
        steward.open("/console/audit")
        steward.type("#subject_id", resident_id)
        steward.type("#agency", "motcua-danang")
        steward.click("#search")
        subjects = steward.column("entries", 6)
        assert len(subjects) == 2 and all(resident_id in s for s in subjects)
        agencies = steward.column("entries", 3)
        steward.photograph("audit")
        browser.find_element(By.ID, "export").click()
        exported = _downloaded(downloads, "access-log.csv")
        with exported.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["subject_id"] for r in rows] == [resident_id, resident_id]
        assert [r["agency"] for r in rows] == agencies[::-1]
        steward.open(f"/console/audit?subject_id={resident_id}&lang=en")
        assert "Access log" in steward.text("h1")
        steward.photograph("audit-en")
    except (TimeoutException, AssertionError) as failed:
        browser.save_screenshot(str(tmp_path / "failed.png"))
        logs = [entry["message"] for entry in browser_log(browser, "browser")]
        raise AssertionError(
            f"{failed!r} at {browser.current_url}; screenshot {tmp_path / 'failed.png'}; "
            f"console {logs[-5:]}"
        ) from failed

    # Every request the browser made stayed on loopback, the provider's login page's included
    steward.collect()
    requests = steward.requests
    gateway_origin, provider_origin = urlsplit(console).netloc, urlsplit(oidc).netloc
    assert any(url.startswith(console) for url, _ in requests)
    assert any(urlsplit(url).netloc == provider_origin for url, _ in requests)  # the login
    network = [(u, d) for u, d in requests if urlsplit(u).scheme in {"http", "https", "ws", "wss"}]
    elsewhere = [(u, d) for u, d in network if urlsplit(u).hostname != "127.0.0.1"]
    assert elsewhere == [], elsewhere
    from_console = [(u, d) for u, d in network if urlsplit(d).netloc == gateway_origin]
    assert from_console
    assert all(urlsplit(u).netloc in {gateway_origin, provider_origin} for u, _ in from_console)
    # the console's pages broke none of their Content-Security-Policy
    console_log = [entry["message"] for entry in browser_log(browser, "browser")]
    assert not [m for m in console_log if "Content Security Policy" in m and console in m]
