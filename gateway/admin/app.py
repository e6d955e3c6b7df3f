"""The steward API as its own FastAPI application, mounted at `/admin` by the gateway: its own
OpenAPI document (`/admin/openapi.json`), problem+json errors, and steward tokens only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from graphql import GraphQLSchema
from starlette.exceptions import HTTPException

from gateway.admin.agencies.views import router as agencies
from gateway.admin.agreements.views import router as agreements
from gateway.admin.alerts.views import router as alerts
from gateway.admin.audit.views import router as audit
from gateway.admin.consents.views import router as consents
from gateway.admin.context import Admin
from gateway.admin.corrections.views import router as corrections
from gateway.admin.documents.views import router as documents
from gateway.admin.dossiers.views import router as dossiers
from gateway.admin.explain.views import router as explain
from gateway.admin.http import require_steward
from gateway.admin.problems import Problem, on_http_error, on_problem, on_validation_error
from gateway.admin.purposes.views import router as purposes
from gateway.admin.subscriptions.views import deliveries_router as deliveries
from gateway.admin.subscriptions.views import router as subscriptions
from gateway.graph.context import Services
from lienthong.settings import Env, Settings


def create_admin_app(
    *, services: Callable[[], Services], schema: GraphQLSchema, settings: Settings
) -> FastAPI:
    app = FastAPI(
        title="Liên Thông steward API",
        version="1",
        description="Agencies, data-sharing agreements and agency documents (four-eyes), "
        "purposes, prefill forms, "
        "consents, the access log and decision explanations. Steward tokens only; errors are "
        "`application/problem+json` with a stable `code`; changes need `If-Match`.",
        # public in dev; in prod for stewards only (the route below, under the steward check)
        openapi_url="/openapi.json" if settings.env is Env.DEV else None,
        docs_url="/docs" if settings.env is Env.DEV else None,
        redoc_url=None,
        dependencies=[Depends(require_steward)],
    )
    app.state.admin = Admin(services=services, schema=schema)
    app.exception_handler(Problem)(on_problem)
    app.exception_handler(RequestValidationError)(on_validation_error)
    app.exception_handler(HTTPException)(on_http_error)
    routers = (
        agencies,
        agreements,
        documents,
        subscriptions,
        deliveries,
        purposes,
        consents,
        audit,
        explain,
        dossiers,
        alerts,
        corrections,
    )
    for router in routers:
        app.include_router(router)
    if settings.env is not Env.DEV:

        @app.get("/openapi.json", include_in_schema=False)
        async def openapi() -> dict[str, Any]:
            return app.openapi()

    return app
