"""Debian's headless Chromium for the browser tests (Selenium, Debian's chromedriver), offline as
on a government LAN: every request the pages make is recorded (the DevTools protocol's network
domain) so a test can check that none left loopback, and the browser's console is kept so a
test can check that no page broke its Content-Security-Policy.

`Person` is someone at the browser (open, click, type, read, photograph); the console's tests
add their own steps (tests/e2e/test_console*_browser.py), GraphiQL's test its own
(tests/e2e/test_graphiql_browser.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's chromium-driver, the same build
WAIT_SECONDS = 60  # a cold Chromium on a loaded 2-core machine
CLICK_ATTEMPTS = 3
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"  # the console's screenshots
NETWORK = {"http", "https", "ws", "wss"}  # data: and blob: URLs are inline


@contextmanager
def chromium(
    tmp_path: Path, *, window: str = "1280,900", language: str | None = "vi"
) -> Iterator[Chrome]:
    """Headless Chromium, its profile under `tmp_path`, no name resolving but the loopback
    address, recording every request and its console; quit afterwards."""
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: `make install` installs Debian's chromium packages")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    arguments = [
        "--headless=new",
        "--no-sandbox",  # as root (CI), Chromium refuses its sandbox
        "--disable-gpu",
        "--no-first-run",
        # no calls home: on this closed network they fail, many at a time
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        f"--window-size={window}",
        # Offline, as in a government LAN: no name resolves but the loopback address, so any
        # asset a page would take from another site fails to load (and shows in the log)
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]
    if language:
        arguments.append(f"--lang={language}")
    for argument in arguments:
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
    """Chromium's log of `kind` since the last call ("performance": DevTools events,
    "browser": the console)."""
    entries: list[dict[str, Any]] = browser.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


@dataclass(frozen=True)
class Request:
    url: str
    document: str  # the page that asked for it (a navigation: the page it goes to)


def requests_made(browser: Chrome) -> list[Request]:
    """Every request the browser asked for since the last call (its performance log)."""
    found = []
    for entry in browser_log(browser, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            params = message["params"]
            found.append(Request(params["request"]["url"], params["documentURL"]))
    return found


def assert_stayed_on(requests: list[Request], gateway: str, *others: str) -> list[Request]:
    """Every network request stayed on loopback: none to any host but 127.0.0.1, every one
    went to the gateway or to `others` (the provider's login), and some came from the
    gateway's pages (whose requests went nowhere else). The network requests."""
    network = [r for r in requests if urlsplit(r.url).scheme in NETWORK]
    elsewhere = [r for r in network if urlsplit(r.url).hostname != "127.0.0.1"]
    assert elsewhere == [], elsewhere
    origins = {urlsplit(gateway).netloc, *(urlsplit(other).netloc for other in others)}
    off_origin = [r for r in network if urlsplit(r.url).netloc not in origins]
    assert off_origin == [], off_origin
    from_gateway = [r for r in network if urlsplit(r.document).netloc == urlsplit(gateway).netloc]
    assert from_gateway
    assert all(urlsplit(r.url).netloc in origins for r in from_gateway)
    return network


def policy_violations(browser: Chrome, origin: str = "") -> list[str]:
    """The console's messages of a Content-Security-Policy refusal (of pages at `origin`)."""
    messages = [str(entry["message"]) for entry in browser_log(browser, "browser")]
    return [m for m in messages if "Content Security Policy" in m and origin in m]


def failure(browser: Chrome, tmp_path: Path, failed: Exception) -> AssertionError:
    """What a browser test says when a step failed: where, a screenshot, the console's end."""
    browser.save_screenshot(str(tmp_path / "failed.png"))
    logs = [entry["message"] for entry in browser_log(browser, "browser")]
    return AssertionError(
        f"{failed!r} at {browser.current_url}; screenshot {tmp_path / 'failed.png'}; "
        f"console {logs[-5:]}"
    )


def _lost(error: WebDriverException) -> bool:
    """Whether Chromium says the element is no longer in its page, in either of its words."""
    return isinstance(error, StaleElementReferenceException) or (
        "does not belong to the document" in str(error.msg)
    )


def _gone(element: WebElement) -> Callable[[Chrome], bool]:
    """A wait's condition: `element`'s page has been replaced."""

    def gone(_: Chrome) -> bool:
        try:
            element.is_enabled()
        except WebDriverException as error:
            if _lost(error):
                return True
            raise
        return False

    return gone


class Person:
    """Someone at the browser: what they open, click and type, what the pages show them, and
    every request the browser made (whoever was at it: `requests` may be shared)."""

    def __init__(
        self,
        browser: Chrome,
        base: str,
        requests: list[Request] | None = None,
        *,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self.browser = browser
        self.console = base
        self.wait = WebDriverWait(browser, WAIT_SECONDS)
        self.requests = requests if requests is not None else []
        self.passwords = dict(passwords or {})  # the users' passwords at the provider

    def open(self, path: str) -> None:
        self.browser.get(f"{self.console}{path}")
        self.settle()

    def settle(self) -> None:
        self.wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
        self.collect()

    def collect(self) -> None:
        self.requests.extend(requests_made(self.browser))

    def click(self, selector: str) -> None:
        """Click what leads to another page, and wait for that page. On a loaded machine
        Chromium may lose a node while a page is replaced ("does not belong to the document")
        instead of calling it stale: either way it is gone, and the element is found and
        clicked again unless the page it was on has gone already (the click was made)."""
        page = self.browser.find_element(By.TAG_NAME, "html")
        for attempt in range(CLICK_ATTEMPTS):
            try:
                self.browser.find_element(By.CSS_SELECTOR, selector).click()
                break
            except WebDriverException as error:
                if not _lost(error) or attempt == CLICK_ATTEMPTS - 1:
                    raise
                if _gone(page)(self.browser):
                    break
        self.wait.until(_gone(page))
        self.settle()

    def type(self, selector: str, text: str) -> None:
        found = self.browser.find_element(By.CSS_SELECTOR, selector)
        found.clear()
        found.send_keys(text)

    def value(self, selector: str) -> str:
        return str(self.browser.find_element(By.CSS_SELECTOR, selector).get_property("value"))

    def text(self, selector: str = "main") -> str:
        return str(self.browser.find_element(By.CSS_SELECTOR, selector).text)

    def column(self, table: str, index: int) -> list[str]:
        """The text of one column of a table's body rows."""
        cells = self.browser.find_elements(
            By.CSS_SELECTOR, f"#{table} tbody tr td:nth-child({index})"
        )
        return [str(cell.text) for cell in cells]

    def sign_in(
        self, username: str, password: str | None = None, *, home: str = "/console"
    ) -> None:
        """From the console's sign-in page to the provider's login page and back (the password
        given, else the one `passwords` holds for `username`)."""
        self.open(f"{home}/")
        assert urlsplit(self.browser.current_url).path == f"{home}/sign-in"
        self.click("#sign-in")
        self.wait.until(lambda b: b.find_elements(By.NAME, "password"))
        self.type("input[name=login]", username)
        self.type("input[name=password]", password or self.passwords[username])
        self.click("button[type=submit]")
        self.wait.until(lambda b: urlsplit(b.current_url).path == f"{home}/")
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
