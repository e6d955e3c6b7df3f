"""GraphiQL in dev, as a developer uses it: a real `lienthong serve`, headless Chromium (Debian's,
driven by Selenium through Debian's chromedriver) with no network beyond loopback, a token and
`X-Purpose` typed into the page, a query typed into the editor and run, the resident's name
read off the result pane. Every request the browser makes is checked to stay on the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from gateway import graphiql
from gateway.graphiql import views
from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from tests.browser import browser_log, chromium, requests_made

ROOT = Path(__file__).resolve().parents[2]
NAME = "Trần Thị Thu Hương"  # diacritics all the way through: database, JSON, editor
READ_EDITOR = """
const lines = [...document.querySelectorAll(`${arguments[0]} .view-lines .view-line`)];
lines.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
return lines.map((line) => line.textContent).join("\\n");
"""
WAIT_SECONDS = 60  # a cold Chromium parsing a 5 MB bundle on a loaded 2-core machine


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    """Headless Chromium offline (tests/browser.py), wide enough for GraphiQL's panes."""
    with chromium(tmp_path, window="1400,900", language=None) as driver:
        yield driver


def _click(wait: WebDriverWait[Chrome], selector: str) -> None:
    """Click as a person would once the element can take it: a page still laying itself out
    (GraphiQL's panes, Monaco) may cover it for a moment or replace it."""

    def clicked(browser: Chrome) -> bool:
        try:
            element = browser.find_element(By.CSS_SELECTOR, selector)
            if not (element.is_displayed() and element.is_enabled()):
                return False
            element.click()
        except (
            NoSuchElementException,
            StaleElementReferenceException,
            ElementClickInterceptedException,
            ElementNotInteractableException,
        ):
            return False
        return True

    wait.until(clicked)


def test_graphiql_runs_an_authenticated_query_offline(
    gateway: str, browser: Chrome, home: Path, resident_id: str, tmp_path: Path
) -> None:
    token = DevIssuer(Settings(home=home)).mint(agency="motcua-danang")
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(f"{gateway}/graphiql")
    try:
        token_input = wait.until(lambda b: _first(b, "#lt-token"))
        token_input.send_keys(token)
        purpose = browser.find_element(By.CSS_SELECTOR, "#lt-purpose")
        purpose.send_keys(Keys.CONTROL, "a")  # replace what is there, as a person would
        purpose.send_keys("CT01")

        # The operation editor (Monaco): replace its text by typing, as a person would
        _click(wait, ".graphiql-query-editor .monaco-editor")
        typing = browser.switch_to.active_element
        typing.send_keys(Keys.CONTROL, "a")
        typing.send_keys(Keys.DELETE)
        typing.send_keys(f'query {{ resident(id: "{resident_id}") {{ fullName }} }}')
        assert resident_id in _editor_text(browser, ".graphiql-query-editor")
        # GraphiQL takes in an edit after a pause (100 ms); until then it would still send the
        # example's operation name. Its tab's title tells when it has: no name, "<untitled>".
        wait.until(lambda b: _text(b, ".graphiql-tab-active") == "<untitled>")

        _click(wait, ".graphiql-execute-button")
        wait.until(lambda b: _editor_text(b, ".graphiql-response").strip())
        response = _editor_text(browser, ".graphiql-response")
        assert NAME in response, response
        assert "errors" not in response, response

        # With the token, GraphiQL introspected the schema: the docs explorer lists its types
        docs = 'button[aria-label="Show Documentation Explorer"]'
        _click(wait, docs)
        wait.until(lambda b: "Resident" in _text(b, ".graphiql-doc-explorer"))
    except TimeoutException:
        browser.save_screenshot(str(tmp_path / "graphiql.png"))
        raise AssertionError(_diagnosis(browser, tmp_path)) from None
    _assert_stayed_on(gateway, browser)
    # The page's Content-Security-Policy holds everything GraphiQL does: nothing was refused
    console = [entry["message"] for entry in browser_log(browser, "browser")]
    assert not [m for m in console if "Content Security Policy" in m], console


def test_graphiql_page_is_same_origin_only(gateway: str) -> None:
    page = httpx.get(f"{gateway}/graphiql")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-eval" not in policy
    assert "http" not in page.text.replace(gateway, "")  # no absolute URL: nothing off-site
    script = httpx.get(f"{gateway}/graphiql/assets/graphiql.js")
    assert script.headers["content-type"].startswith("text/javascript")
    revalidated = httpx.get(
        f"{gateway}/graphiql/assets/graphiql.js",
        headers={"If-None-Match": script.headers["etag"]},
    )
    assert revalidated.status_code == 304
    assert httpx.get(f"{gateway}/graphiql/assets/..%2Fviews.py").status_code == 404
    assert httpx.get(f"{gateway}/graphiql/assets/views.py").status_code == 404


async def test_without_the_bundle_graphiql_says_to_run_make_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "STATIC", tmp_path)
    assert not graphiql.graphiql_available()
    app = FastAPI()
    app.include_router(graphiql.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        page = await client.get("/graphiql")
        assert page.status_code == 503
        assert "make install" in page.text
        assert (await client.get("/graphiql/assets/graphiql.js")).status_code == 404


def _first(browser: Chrome, selector: str) -> Any:
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return found[0] if found else False


def _text(browser: Chrome, selector: str) -> str:
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return str(found[0].get_attribute("textContent") or "") if found else ""


def _editor_text(browser: Chrome, container: str) -> str:
    """The text a Monaco editor shows: its rendered lines top to bottom, read in one go (Monaco
    re-renders them at will), with the no-break spaces it draws turned back into spaces."""
    text = browser.execute_script(READ_EDITOR, container)
    return str(text or "").replace("\u00a0", " ")


def _assert_stayed_on(gateway: str, browser: Chrome) -> None:
    """Every network request the page made went to the gateway (data: URLs are inline)."""
    origin = urlsplit(gateway).netloc
    elsewhere = [
        url
        for url in (request.url for request in requests_made(browser))
        if urlsplit(url).scheme in {"http", "https", "ws", "wss"} and urlsplit(url).netloc != origin
    ]
    assert not elsewhere, elsewhere


def _diagnosis(browser: Chrome, tmp_path: Path) -> str:
    console = [entry["message"] for entry in browser_log(browser, "browser")]
    return (
        f"GraphiQL did not show the answer; screenshot {tmp_path / 'graphiql.png'}\n"
        f"response pane: {_editor_text(browser, '.graphiql-response')!r}\n"
        f"docs: {_text(browser, '.graphiql-doc-explorer')[:200]!r}\n"
        f"console: {console[-10:]}"
    )
