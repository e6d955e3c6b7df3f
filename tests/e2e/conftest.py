"""What the end-to-end tests share: a state directory both a real `lienthong serve` and the test
use (the dev issuer's key lives there), the sample policy with one resident (named by the test
module's NAME), and a dev gateway serving them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories
from tests.net import lienthong_serve

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
