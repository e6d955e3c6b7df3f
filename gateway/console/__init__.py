"""The web console: server-rendered pages on the gateway's app, for data stewards (`/console`)
and citizens (`/me`), on the same services as the admin API (docs/console.md)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from graphql import GraphQLSchema

from gateway.console import agencies, agreements, audit, consents, dashboard, etl_runs, me, static
from gateway.console.auth import auth_router
from gateway.console.context import CITIZEN, HOMES, STEWARD, Console
from gateway.console.corrections import router as corrections_router
from gateway.console.documents import router as documents_router
from gateway.console.explain import router as explain_router
from gateway.console.forms import router as forms_router
from gateway.console.me_corrections import router as me_corrections_router
from gateway.console.purposes import router as purposes_router
from gateway.console.web import install_handlers
from gateway.graph.context import Services
from lienthong.settings import Settings

__all__ = ["mount_console"]


def _app(console: Console, audience: str) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.console = console
    install_handlers(app, audience)
    app.include_router(auth_router(audience))
    app.include_router(static.router)
    return app


def mount_console(
    app: FastAPI, *, services: Callable[[], Services], schema: GraphQLSchema, settings: Settings
) -> None:
    """`/console` (stewards) and `/me` (citizens) on the gateway's app, sharing one context."""
    console = Console(services=services, schema=schema, settings=settings)
    stewards = _app(console, STEWARD)
    stewards.include_router(dashboard.router)
    stewards.include_router(agreements.approvals)
    stewards.include_router(agreements.router)
    for pages in (purposes_router, forms_router, documents_router, explain_router):
        stewards.include_router(pages)
    for router in (agencies.router, agencies.alerts, consents.router, etl_runs.router,
                   audit.router):  # fmt: skip
        stewards.include_router(router)
    stewards.include_router(corrections_router)
    citizens = _app(console, CITIZEN)
    citizens.include_router(me.router)
    citizens.include_router(me_corrections_router)
    app.mount(HOMES[STEWARD], stewards)
    app.mount(HOMES[CITIZEN], citizens)
