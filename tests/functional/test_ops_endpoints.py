"""Operators' endpoints: in prod `/metrics`, `/readyz`'s details, the OPA bundle and the admin
API's OpenAPI document need credentials; the bundle carries only approved agreements not yet
ended."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from gateway.admin.app import create_admin_app
from gateway.app import create_app
from gateway.graph.schema import build_schema
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Env, Settings
from registries.db import create_engine, session_factory
from tests import clients
from tests.graphql_world import SAMPLE_POLICY

OPS_TOKEN = "scrape-and-bundle-7c1f"


@pytest.fixture(scope="module")
def dev(committed_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database_url=committed_database_url, home=tmp_path_factory.mktemp("ops"))


@pytest.fixture(scope="module")
async def loaded(dev: Settings) -> Settings:
    engine = create_engine(dev, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            draft = {**SAMPLE_POLICY["agreements"][0], "purpose": "DKKD", "status": "draft"}
            document = {**SAMPLE_POLICY, "agreements": [*SAMPLE_POLICY["agreements"], draft]}
            await load_policy_document(session=session, document=document, actor="etl")
    finally:
        await engine.dispose()
    return dev


@dataclass
class Running:
    app: FastAPI
    http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def running(loaded: Settings) -> AsyncIterator[Running]:
    app = create_app(loaded)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):
        yield Running(app, http)


@pytest.fixture
def prod(running: Running, loaded: Settings) -> Iterator[httpx.AsyncClient]:
    """The gateway as prod has its operators' endpoints (what they read is the app's settings;
    the dev token issuer cannot start in prod, and no token is verified here)."""
    running.app.state.settings = loaded.model_copy(
        update={"env": Env.PROD, "ops_token": SecretStr(OPS_TOKEN)}
    )
    yield running.http
    running.app.state.settings = loaded


def _ops(token: str = OPS_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/metrics", "/bundles/lienthong.tar.gz"])
async def test_operators_endpoints_need_the_ops_token_in_prod(
    prod: httpx.AsyncClient, path: str
) -> None:
    for headers in ({}, _ops("wrong"), {"Authorization": f"Basic {OPS_TOKEN}"}):
        refused = await prod.get(path, headers=headers)
        assert refused.status_code == 401, (path, headers)
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert (await prod.get(path, headers=_ops())).status_code == 200


async def test_readiness_tells_only_operators_which_dependency(prod: httpx.AsyncClient) -> None:
    anyone = await prod.get("/readyz")
    assert "checks" not in anyone.json()
    operator = await prod.get("/readyz", headers=_ops())
    assert operator.status_code == anyone.status_code
    assert set(operator.json()["checks"]) == {"database", "policy", "audit"}
    assert (await prod.get("/healthz")).json() == {"status": "ok"}  # liveness stays open


async def test_the_admin_openapi_document_is_for_stewards_in_prod(
    running: Running, loaded: Settings
) -> None:
    prod_admin = create_admin_app(
        services=lambda: running.app.state.services,
        schema=build_schema()._schema,
        settings=loaded.model_copy(update={"env": Env.PROD}),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=prod_admin), base_url="http://gw"
    ) as admin:
        anonymous = await admin.get("/openapi.json")
        assert anonymous.status_code == 401
        assert "paths" not in anonymous.text
        steward = clients.steward(DevIssuer(loaded))
        assert "paths" in (await admin.get("/openapi.json", headers=steward)).json()
        assert (await admin.get("/docs")).status_code in (401, 404)


async def test_in_dev_the_operators_endpoints_are_open(running: Running) -> None:
    dev = running.http
    assert (await dev.get("/metrics")).status_code == 200
    assert "checks" in (await dev.get("/readyz")).json()
    assert (await dev.get("/admin/openapi.json")).status_code == 200


async def test_the_bundle_carries_approved_agreements_not_yet_ended(
    prod: httpx.AsyncClient, loaded: Settings
) -> None:
    with psycopg.connect(loaded.libpq_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE agreements SET effective_to = now() - interval '1 day' "
            "WHERE agreement_id = 'thue-hcm/DKKD/Enterprise' AND valid_to IS NULL"
        )
        statuses = dict(
            connection.execute(
                "SELECT agreement_id, status FROM agreements WHERE valid_to IS NULL"
            ).fetchall()
        )
    answer = await prod.get("/bundles/lienthong.tar.gz", headers=_ops())
    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as archive:
        member = archive.extractfile("lienthong/data.json")
        assert member is not None
        data: dict[str, Any] = json.loads(member.read())
    carried = {a["agreement_id"] for a in data["agreements"]}
    assert statuses["motcua-danang/DKKD/Resident"] == "draft"
    assert "motcua-danang/DKKD/Resident" not in carried  # a draft
    assert "thue-hcm/DKKD/Enterprise" not in carried  # ended yesterday
    assert "motcua-danang/CT01/Resident" in carried
    assert all(a["status"] == "approved" for a in data["agreements"])
