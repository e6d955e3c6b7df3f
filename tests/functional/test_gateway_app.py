"""The gateway app through HTTP: health, readiness, metrics, the dev issuer's keys."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.jwks import RemoteKeys
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import AuthMode, Settings
from tests.net import LIENTHONG, lienthong_serve


@pytest.fixture
def app_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"home": tmp_path / "home"})


@pytest.fixture
async def client(app_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(app_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
    ):
        yield client


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "policy": "ok", "audit": "ok"},
    }


async def test_not_ready_when_the_database_is_unreachable(app_settings: Settings) -> None:
    app: FastAPI = create_app(
        app_settings.model_copy(update={"database_url": "postgresql://x@127.0.0.1:1/none"})
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        answer = await c.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "not ready"
    assert answer.json()["checks"]["database"] != "ok"


async def test_metrics_in_prometheus_text_format(client: httpx.AsyncClient) -> None:
    answer = await client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    assert "lienthong_graphql_requests_total" in answer.text


async def test_the_dev_issuer_publishes_keys_that_verify_its_tokens(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    discovery = (await client.get("/realms/lienthong/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == app_settings.token_issuer
    assert discovery["jwks_uri"] == f"{app_settings.token_issuer}/protocol/openid-connect/certs"
    assert (await client.get("/realms/other/protocol/openid-connect/certs")).status_code == 404

    async def fetch() -> dict[str, Any]:
        answer = await client.get("/realms/lienthong/protocol/openid-connect/certs")
        return dict(answer.json())

    verifier = TokenVerifier(
        issuer=app_settings.token_issuer,
        audience=app_settings.keycloak_audience,
        keys=RemoteKeys(fetch),
    )
    token = DevIssuer(app_settings).mint(agency="motcua-danang")
    assert (await verifier.verify(token)).agency == "motcua-danang"


async def test_keycloak_mode_serves_no_dev_issuer(app_settings: Settings) -> None:
    app = create_app(
        app_settings.model_copy(
            update={"auth_mode": AuthMode.KEYCLOAK, "keycloak_url": "http://127.0.0.1:1"}
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        answer = await c.get("/realms/lienthong/protocol/openid-connect/certs")
    assert answer.status_code == 404


def test_lienthong_serve_runs_a_real_uvicorn(app_settings: Settings) -> None:
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": app_settings.libpq_url,
        "LIENTHONG_HOME": str(app_settings.home),
    }
    with lienthong_serve(env) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200
        token = subprocess.run(
            [str(LIENTHONG), "dev", "token", "--agency", "thue-hcm"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        certs = httpx.get(f"{base}/realms/lienthong/protocol/openid-connect/certs")
        assert certs.json()["keys"][0]["kid"] == DevIssuer(app_settings).key_id
        graphql = f"{base}/graphql"
        query = {"query": '{ resident(id: "048085000123") { fullName } }'}
        refused = httpx.post(graphql, json=query)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        headers = {"Authorization": f"Bearer {token}"}
        no_purpose = httpx.post(graphql, json=query, headers=headers).json()
        assert no_purpose["errors"][0]["extensions"]["code"] == "PURPOSE_REQUIRED"
        absent = httpx.post(graphql, json=query, headers={**headers, "X-Purpose": "DKKD"})
        # thue-hcm sees residents only as legal representatives: refused at the root, absent
        # or not
        assert absent.json()["data"] == {"resident": None}
        assert absent.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
