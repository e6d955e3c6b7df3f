"""`/admin` end to end through HTTP (the whole gateway app, lifespan included, its own committed
database): steward-only access, problem+json errors, ETags, four-eyes review, and the effect of
an approval or a suspension on the very next GraphQL request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = json.loads((ROOT / "infra" / "sample" / "policy.json").read_text(encoding="utf-8"))
PROBLEM = "application/problem+json"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"


@dataclass
class World:
    resident: str


@pytest.fixture(scope="module")
def admin_settings(committed_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database_url=committed_database_url, home=tmp_path_factory.mktemp("admin-home"))


@pytest.fixture(scope="module")
async def world(admin_settings: Settings) -> World:
    engine = create_engine(admin_settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            resident = await factories.make_resident(session, full_name="Lê Thị Hoa")
    finally:
        await engine.dispose()
    return World(resident=resident.personal_id)


class Client:
    """HTTP against the app, as a steward (by name), an agency or a citizen."""

    def __init__(self, http: httpx.AsyncClient, issuer: DevIssuer) -> None:
        self.http = http
        self.issuer = issuer

    def steward(self, name: str = "steward-lan") -> dict[str, str]:
        token = self.issuer.mint(
            agency="steward-console", roles=("steward",), extra_claims={"sub": name}
        )
        return {"Authorization": f"Bearer {token}"}

    def agency(self, agency: str = "motcua-danang") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(agency=agency)}"}

    def citizen(self, citizen_id: str) -> dict[str, str]:
        token = self.issuer.mint(
            agency="lienthong-citizen", roles=("citizen",), citizen_id=citizen_id
        )
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, *, steward: str = "steward-lan", etag: str | None = None,
        headers: dict[str, str] | None = None, **kwargs: Any,
    ) -> httpx.Response:  # fmt: skip
        sent = {**self.steward(steward), **({"If-Match": etag} if etag else {}), **(headers or {})}
        return await self.http.request(method, f"/admin{path}", headers=sent, **kwargs)

    async def graphql(
        self, agency: str, purpose: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        answer = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={**self.agency(agency), "X-Purpose": purpose},
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(scope="module")
async def client(admin_settings: Settings, world: World) -> AsyncIterator[Client]:
    app = create_app(admin_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):
        yield Client(http, DevIssuer(admin_settings))


def problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body = dict(answer.json())
    assert body["status"] == status
    assert body["code"] == code
    return body


async def test_the_openapi_document_is_published(client: Client) -> None:
    answer = await client.http.get("/admin/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert "/agencies" in paths
    assert "/agreements/{agreement_id}/approve" in paths
    assert answer.json()["servers"] == [{"url": "/admin"}]
