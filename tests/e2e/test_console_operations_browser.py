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

import csv
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from etl.guard import ChangesRefused
from etl.pipeline import load
from etl.synth import SynthOptions, synthesize
from lienthong.settings import Settings
from tests.browser import WAIT_SECONDS, Person, assert_stayed_on, failure, policy_violations
from tests.console import agency_reads_name

ROOT = Path(__file__).resolve().parents[2]
DEMO_STEWARDS = json.loads((ROOT / "infra" / "demo" / "users.json").read_text(encoding="utf-8"))
PASSWORDS = {user["username"]: user["password"] for user in DEMO_STEWARDS}
ADMINISTRATOR = "an"  # the platform's administrator (role admin)
NAME = "Đoàn Thị Hồng Nhung"  # the resident tests/e2e/conftest.py makes


@pytest.fixture(scope="module")
def console_users() -> list[dict[str, Any]]:
    """The demo's stewards (tests/conftest.py starts the stand-in with them)."""
    return list(DEMO_STEWARDS)


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
def console_data(resident_id: str, stopped_load: int) -> None:
    """The sample, its resident and the stopped load, before the console starts."""


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
        agency_reads_name(console, home, resident_id, agency, purpose)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})  # fmt: skip
    steward = Person(browser, console, passwords=PASSWORDS)
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
        raise failure(browser, tmp_path, failed) from failed

    # Every request the browser made stayed on loopback, the provider's login page's included
    steward.collect()
    requests = steward.requests
    provider_origin = urlsplit(oidc).netloc
    assert any(r.url.startswith(console) for r in requests)
    assert any(urlsplit(r.url).netloc == provider_origin for r in requests)  # the login
    assert_stayed_on(requests, console, oidc)
    # the console's pages broke none of their Content-Security-Policy
    assert not policy_violations(browser, console)
