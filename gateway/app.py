"""The gateway application (FastAPI): health, readiness, metrics and, in development, the
embedded issuer's discovery document and keys. GraphQL joins it with the gateway issue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from gateway import health
from gateway.identity import views as identity_views
from gateway.identity.dev_issuer import DevIssuer
from gateway.metrics import GatewayMetrics
from lienthong.logging import configure_logging
from lienthong.settings import AuthMode, Env, Settings, get_settings
from registries.db import create_engine


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    engine = create_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    async def database_ready() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    app = FastAPI(
        title="Liên Thông gateway",
        lifespan=lifespan,
        docs_url="/docs" if settings.env is Env.DEV else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = GatewayMetrics()
    app.state.readiness_checks = {"database": database_ready}
    app.include_router(health.router)
    if settings.auth_mode is AuthMode.DEV:
        app.state.dev_issuer = DevIssuer(settings)
        app.include_router(identity_views.router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
