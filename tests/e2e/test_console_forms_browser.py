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

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from gateway.admin.documents import service as documents
from gateway.graph.schema import build_schema
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import openid
from tests.net import free_port, lienthong_serve

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "console"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's chromium-driver, the same build
DEMO_STEWARDS = json.loads((ROOT / "infra" / "demo" / "users.json").read_text(encoding="utf-8"))
PASSWORDS = {user["username"]: user["password"] for user in DEMO_STEWARDS}
CONSOLE_SECRET = "s3cret-console-forms-e2e"
NAME = "Hoàng Thị Minh Thư"  # the sample resident (tests/e2e/conftest.py makes her)
DOCUMENT = "query KiemTraDoanhNghiep($code: ID!) { enterprise(code: $code) { name status } }"
WAIT_SECONDS = 60  # a cold Chromium on a loaded 2-core machine


@pytest.fixture(scope="module")
def gateway_port() -> int:
    return free_port()


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
    committed_database_url: str,
    home: Path,
    resident_id: str,
    proposed_document: str,
    oidc: str,
    gateway_port: int,
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
        "--disable-background-networking",  # no calls home: on a closed network they fail
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1280,900",
        "--lang=vi",
        # Offline, as in a government LAN: no name resolves but the loopback address
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    # every request the pages make (the DevTools protocol's network domain) and the console
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


class Steward:
    """A steward at the browser: what she clicks and types, and what the pages show her; every
    URL the browser asks for is kept in `requests`."""

    def __init__(self, browser: Chrome, console: str) -> None:
        self.browser = browser
        self.console = console
        self.wait = WebDriverWait(browser, WAIT_SECONDS)
        self.requests: list[Request] = []

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

    def value(self, selector: str) -> str:
        return str(self.browser.find_element(By.CSS_SELECTOR, selector).get_property("value"))

    def text(self, selector: str = "main") -> str:
        return str(self.browser.find_element(By.CSS_SELECTOR, selector).text)

    def sign_in(self, username: str) -> None:
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


def test_a_steward_fixes_a_form_previews_its_prefill_and_submits_it(
    console: str, oidc: str, browser: Chrome, resident_id: str, tmp_path: Path
) -> None:
    lan = Steward(browser, console)
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
        browser.save_screenshot(str(tmp_path / "failed.png"))
        logs = [entry["message"] for entry in browser.get_log("browser")]
        raise AssertionError(
            f"{failed!r} at {browser.current_url}; screenshot {tmp_path / 'failed.png'}; "
            f"console {logs[-5:]}"
        ) from failed

    # Every request the browser made stayed on loopback, the provider's login page's included
    # (the stand-in's own page loads nothing: tests/oidc/server.mjs), checked as
    # tests/e2e/test_console_browser.py checks it
    lan.collect()
    gateway_origin, provider_origin = urlsplit(console).netloc, urlsplit(oidc).netloc
    network = [r for r in lan.requests if urlsplit(r.url).scheme in {"http", "https", "ws", "wss"}]
    assert any(r.url.startswith(f"{console}/console/forms") for r in network)
    assert any(urlsplit(r.url).netloc == provider_origin for r in network)  # the login
    elsewhere = [r for r in network if urlsplit(r.url).hostname != "127.0.0.1"]
    assert elsewhere == [], elsewhere
    from_console = [r for r in network if urlsplit(r.document).netloc == gateway_origin]
    assert from_console
    assert all(urlsplit(r.url).netloc in {gateway_origin, provider_origin} for r in from_console)
    console_log = [entry["message"] for entry in browser.get_log("browser")]
    assert not [m for m in console_log if "Content Security Policy" in m and console in m]
