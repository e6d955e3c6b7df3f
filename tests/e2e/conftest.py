"""What the end-to-end tests share: a state directory both a real `lienthong serve` and the test
use (the dev issuer's key lives there), the sample policy with one resident (named by the test
module's NAME), and a dev gateway serving them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome

from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories
from tests.browser import chromium
from tests.console import CONSOLE_SECRET
from tests.net import free_port, lienthong_serve

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = json.loads((ROOT / "infra" / "sample" / "policy.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LIENTHONG_HOME of both the server and the test."""
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="module")
async def resident_id(
    committed_database_url: str, home: Path, request: pytest.FixtureRequest
) -> str:
    """The sample agreements and one resident, named by the module's NAME."""
    settings = Settings(database_url=committed_database_url, home=home)
    engine = create_engine(settings, pool_size=1)
    name = getattr(request.module, "NAME", "Nguyễn Văn An")
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            resident = await factories.make_resident(session, full_name=name, sex="female")
    finally:
        await engine.dispose()
    return resident.personal_id


@pytest.fixture(scope="module")
def gateway(committed_database_url: str, home: Path, resident_id: str) -> Iterator[str]:
    """A real dev `lienthong serve` on the committed database; its base URL."""
    env = {
        **os.environ,
        "LIENTHONG_ENV": "dev",
        "LIENTHONG_DATABASE_URL": committed_database_url,
        "LIENTHONG_HOME": str(home),
    }
    with lienthong_serve(env) as url:
        yield url


# -- the web console in a browser (tests/e2e/test_console*_browser.py) ---------------------------
# tests/conftest.py's stand-in (`oidc`, with the module's `console_users`) sends people back to
# the real server below; a module needing more data before it starts overrides `console_data`.


@pytest.fixture(scope="module")
def gateway_port() -> int:
    """The console's port, known before it starts (the stand-in's redirect URIs name it)."""
    return free_port()


@pytest.fixture(scope="module")
def console_base(gateway_port: int) -> str:
    return f"http://127.0.0.1:{gateway_port}"


@pytest.fixture(scope="module")
def console_data(resident_id: str) -> None:
    """What the database holds before the console starts: the sample and its resident."""


@pytest.fixture(scope="module")
def console(
    committed_database_url: str, home: Path, console_data: None, oidc: str, gateway_port: int
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
    """Debian's headless Chromium, offline, recording every request (tests/browser.py)."""
    with chromium(tmp_path) as driver:
        yield driver
