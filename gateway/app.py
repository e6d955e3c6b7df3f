"""The gateway application (FastAPI): `/graphql`, the change feed (`/events`), health,
readiness, metrics and, in development, the embedded issuer's discovery document and keys."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import Depends, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from strawberry import Schema

from gateway import graphiql, health
from gateway.admin.app import create_admin_app
from gateway.admin.bundle.views import bundle_router
from gateway.alerts.service import AlertScanner
from gateway.audit.writer import AccessLogWriter
from gateway.console import mount_console
from gateway.dossiers.service import DossierCache
from gateway.events import feed
from gateway.graph.catalogue import Catalogues, load_catalogue
from gateway.graph.context import Services
from gateway.graph.documents import router as documents_router
from gateway.graph.http import GraphQLHttp
from gateway.graph.planned import PlannedDocuments
from gateway.graph.plans import open_reads
from gateway.graph.reference import ReferenceCache
from gateway.graph.router import GatewayRouter
from gateway.graph.schema import build_schema
from gateway.http_headers import SecurityHeaders
from gateway.identity import views as identity_views
from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.factory import build_verifier
from gateway.identity.officers import OfficerAssertions
from gateway.metrics import GatewayMetrics
from gateway.ops import require_ops
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import DecisionRequest, PolicyEngine
from gateway.policy.opa import OpaEngine
from gateway.policy.service import AgreementCache
from gateway.quota.leases import BucketPruner, QuotaLeases, RateLeases
from gateway.ratelimit import LocalRates
from gateway.signing import views as signing_views
from gateway.signing.hook import AnswerSigner
from gateway.signing.keys import AnswerKeys
from lienthong.logging import configure_logging
from lienthong.settings import AuthMode, Env, Settings, get_settings
from registries.db import create_engine, session_factory
from registries.routing import ReadReplicas


def policy_engine(settings: Settings) -> PolicyEngine:
    return OpaEngine(settings.opa_url) if settings.opa_url else EmbeddedEngine()


def _accountability(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    """The services that hold requests to account: shared limits, officers, dossiers."""
    return {
        "rates": RateLeases(sessions, slice_seconds=settings.rate_slice_seconds),
        "fallback_rates": LocalRates(),
        "quotas": QuotaLeases(sessions, slice_size=settings.quota_slice),
        "officers": OfficerAssertions(
            audience=settings.officer_audience,
            max_lifetime_seconds=settings.officer_assertion_max_seconds,
        ),
        "dossiers": DossierCache(settings.dossier_cache_seconds),
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    engine = create_engine(settings)
    sessions = session_factory(engine)
    replicas = ReadReplicas.from_settings(settings)
    schema = build_schema(introspection=settings.env is Env.DEV)
    metrics = GatewayMetrics()
    # Before anything starts: in prod, no answer-signing key is a refusal to start
    answer_keys = AnswerKeys.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reference = ReferenceCache()
        async with sessions() as session:
            await reference.load(session=session)
            catalogue = await load_catalogue(session=session, schema=schema._schema)
        audit = AccessLogWriter(settings.libpq_url, fsync=settings.audit_fsync)
        await audit.start()
        if replicas is not None:
            await replicas.start()
        # Plans read through their own pool on the primary: the registry and the policy version
        # in one statement, or, with replicas, the policy version alone (the registry rows then
        # come through the routing; a replica's policy version may lag a suspension).
        reads = await open_reads(settings.libpq_url) if settings.graphql_plans else None
        app.state.services = Services(
            settings=settings,
            sessions=sessions,
            verifier=await build_verifier(settings),
            policy=policy_engine(settings),
            agreements=AgreementCache(),
            audit=audit,
            reference=reference,
            # graphql/forms/ (overridden by the stewards' edits), graphql/operations/ and each
            # form's document, reloaded in every process when a form is saved
            catalogues=Catalogues(catalogue, sessions, schema._schema),
            metrics=metrics,
            replicas=replicas,
            reads=reads,
            **_accountability(settings, sessions),
        )
        # What start-up built (schema, policies, reference data, plans' catalogue) lives as long
        # as the process: out of the collector's reach, a full collection no longer walks it, and
        # requests no longer stall behind one (tens of milliseconds at p99 otherwise).
        gc.freeze()
        background = (
            AlertScanner(sessions, settings, metrics),
            BucketPruner(app.state.services.rates, every=3600, idle_seconds=3600),
        )
        for task in background:
            task.start()
        try:
            yield
        finally:
            for task in background:
                await task.stop()
            if replicas is not None:
                await replicas.stop()
            if reads is not None:
                await reads.close()
            await audit.stop()
            await engine.dispose()

    app = FastAPI(
        title="Liên Thông gateway",
        lifespan=lifespan,
        # the gateway's metrics are its own (Prometheus, /metrics): no per-request OpenTelemetry
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url="/docs" if settings.env is Env.DEV else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.readiness_checks = _readiness_checks(app, engine)
    app.state.answer_keys = answer_keys
    signer = AnswerSigner(answer_keys, issuer=settings.public_url)
    _mount(app, schema=schema, settings=settings, signer=signer)
    if settings.auth_mode is AuthMode.DEV:
        app.state.dev_issuer = DevIssuer(settings)
        app.include_router(identity_views.router)
    if settings.env is Env.DEV:  # GraphiQL, served offline (its assets built by `make install`)
        app.include_router(graphiql.router)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_ops)])
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _readiness_checks(
    app: FastAPI, engine: AsyncEngine
) -> dict[str, Callable[[], Awaitable[None]]]:
    """What `/readyz` checks: the database, the policy engine and the access-log writer."""

    async def database_ready() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def policy_ready() -> None:
        # Both rules the guard asks: `decision` alone and `verdicts` for a level (an OPA sidecar
        # still on a bundle without `verdicts` would fail every batch)
        request = DecisionRequest(
            agency="readiness", roles=(), purpose=None, type="Resident", subject="",
            fields=("id",), agreements=(),
        )  # fmt: skip
        await app.state.services.policy.decide(request)
        await app.state.services.policy.decide_many([request, replace(request, subject="x")])

    async def audit_ready() -> None:
        if not app.state.services.audit.healthy:
            raise RuntimeError("the access-log writer has no database connection")

    return {"database": database_ready, "policy": policy_ready, "audit": audit_ready}


def _mount(app: FastAPI, *, schema: Schema, settings: Settings, signer: AnswerSigner) -> None:
    """`/graphql` (and its planned-documents shortcut), the OPA bundle, `/admin`, the console;
    `services`
    are read per request: the lifespan builds them after routing."""

    def services() -> Services:
        return app.state.services  # type: ignore[no-any-return]

    app.include_router(health.router)
    graphql = GatewayRouter(schema, services=services, settings=settings)
    app.include_router(graphql, prefix="/graphql")
    app.include_router(documents_router)  # GET /graphql/documents: the manifest
    app.include_router(feed.router)  # GET /events: the change feed as NDJSON
    app.include_router(signing_views.router)  # GET /.well-known/answer-keys.json
    app.add_middleware(PlannedDocuments, router=graphql)
    # outermost (added last): what is not a GraphQL-over-HTTP request is answered here
    app.add_middleware(
        GraphQLHttp,
        max_body_bytes=settings.graphql_max_body_bytes,
        max_query_bytes=settings.graphql_max_query_bytes,
        max_json_depth=settings.graphql_max_json_depth,
        ide_path="/graphiql" if settings.env is Env.DEV else None,
        signer=signer,  # Accept: application/jose: a signed answer (gateway.signing)
    )
    app.add_middleware(SecurityHeaders)
    app.include_router(bundle_router(services))
    app.mount(
        "/admin", create_admin_app(services=services, schema=schema._schema, settings=settings)
    )
    # the web console: /console (stewards) and /me (citizens), on the admin API's services
    mount_console(app, services=services, schema=schema._schema, settings=settings)
