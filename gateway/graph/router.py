"""`/graphql`: strawberry's FastAPI router with the gateway's admission and sealing around each
operation.

Admission (before anything resolves): request id, token, per-agency rate limit, trusted
documents (in prod agencies may only run `graphql/operations/`), token/depth/cost limits, and
`X-Purpose` for registry data. Sealing (after resolving, before the response leaves): the
access-log entries of every subject decided on are written durably; if that fails, or the
policy engine failed during the operation, no data leaves (UNAVAILABLE).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import structlog
from fastapi import Request, Response
from graphql import GraphQLError
from strawberry import Schema
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult

from gateway.audit.writer import AuditUnavailable
from gateway.errors import ErrorCode, GatewayError, bad_user_input, unavailable
from gateway.graph.accountable import account, spend
from gateway.graph.context import GatewayContext, Services
from gateway.graph.documents import persisted, with_document_id
from gateway.graph.http import GRAPHQL_RESPONSE, MEDIA_STATE
from gateway.graph.limits import parse_limited, shape_of
from gateway.graph.plans import Plan, Plans
from gateway.identity.errors import AuthenticationError
from gateway.identity.principal import Principal
from gateway.quota.leases import LimitsUnavailable, agency_key, citizen_key, retry_after_seconds
from gateway.signing.hook import ANSWER_STATE, AnswerEvidence
from gateway.trusted_documents import TrustedDocuments
from lienthong.settings import Env, Settings
from registries.routing import server_failed

log = structlog.get_logger(__name__)

PURPOSE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
REQUEST_ID_PATTERN = re.compile(r"^[\w.:-]{1,128}$")
STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.BAD_REQUEST: 400,  # as the door answers it (gateway.graph.http)
}


class RequestRefused(ExecutionResult):
    """The result of a request that never executed (admission refused it, or it does not parse
    or validate): answered in `application/graphql-response+json` with a 4xx status and no
    `data`, as the GraphQL-over-HTTP specification has it (200 and `data: null` in plain JSON)."""


class GatewayRouter(GraphQLRouter[GatewayContext, None]):
    """`services` is read per request: the app builds them in its lifespan, after routing."""

    def __init__(
        self, schema: BaseSchema, *, services: Callable[[], Services], settings: Settings
    ) -> None:
        async def context_getter() -> GatewayContext:
            return self.new_context()

        self._services = services
        self._plans_enabled = settings.graphql_plans
        # compiled on first use (the services come later), again when the documents change
        self._plans: tuple[TrustedDocuments, Plans] | None = None
        super().__init__(
            schema,
            context_getter=context_getter,
            graphql_ide=None,  # dev's GraphiQL is served offline at /graphiql (gateway.graphiql)
            # no operation over a socket: it would run outside admission and the access log
            subscription_protocols=(),
        )

    @property
    def services(self) -> Services:
        return self._services()

    def new_context(self) -> GatewayContext:
        return GatewayContext(self.services)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        if isinstance(result, RequestRefused) and _answers_in_graphql_response(request):
            processed.pop("data", None)
        return processed

    async def respond(
        self, request: Request, result: ExecutionResult, sub_response: Response
    ) -> Response:
        """The response strawberry's view makes of one operation's result (its own steps, for
        the planned-documents shortcut, which answers without the view)."""
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

    @property
    def plans_enabled(self) -> bool:
        return self._plans_enabled

    def _plan_for(self, query: str | None, operation_name: str | None) -> Plan | None:
        """The compiled plan of a trusted document's text, if it has one."""
        if not self._plans_enabled or query is None or not isinstance(self.schema, Schema):
            return None
        trusted = self.services.trusted
        if self._plans is None or self._plans[0] is not trusted:  # a form saved: new documents
            self._plans = (trusted, Plans(self.schema, trusted))
        return self._plans[1].get(query, operation_name)

    def has_plan(self, data: GraphQLRequestData) -> bool:
        """Whether a request, before admission, names a trusted document with a plan (by its
        text, its name or its hash). Only routing: admission still decides everything, and
        nothing is learnt from a request before its token is checked (`remember=False`)."""
        try:
            resolved = self.services.trusted.resolve(
                persisted(data), restricted=False, remember=False
            )
        except GatewayError:
            return False
        return self._plan_for(resolved.query, resolved.operation_name) is not None

    def encode_json(self, data: object) -> bytes:
        """Compact UTF-8 JSON (Vietnamese names as they are, not escaped), through orjson;
        the standard library only for what orjson refuses (integers beyond 64 bits)."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def execute_single(  # noqa: PLR0917 - strawberry's signature
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: GatewayContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        data = with_document_id(request_data, request)  # the member strawberry's view drops
        return await self.answer(request, request_adapter, sub_response, context, data)

    async def answer(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: GatewayContext,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """One operation, admitted, executed (by its plan if it has one) and sealed: what both
        strawberry's view and the planned-documents shortcut (gateway.graph.planned) run."""
        started = time.perf_counter()
        metrics = context.services.metrics
        context.request_errors_4xx = _answers_in_graphql_response(request)
        try:
            try:
                admitted = await self._admit(request.headers, request_data, context, sub_response)
                plan = self._plan_for(admitted.query, admitted.operation_name)
                await self._account(request.headers, context, fresh=plan is None)
                result = await plan.execute(context, admitted.variables) if plan else None
                if plan is not None:
                    answered_by = "generic" if result is None else "plan"
                    metrics.plans.labels(context.operation or "", answered_by).inc()
                    if result is None:  # admitted again on the policy the executor decides on
                        await self._account(request.headers, context, fresh=True)
            except GatewayError as error:
                return self._refuse(error, context, sub_response)
            except GraphQLError as error:  # a syntax error: the document never ran
                parse_failed = GatewayError(ErrorCode.GRAPHQL_PARSE_FAILED, error.message)
                parse_failed.locations = error.locations
                return self._refuse(parse_failed, context, sub_response)
            if result is None:  # no plan, or a case the plan leaves to the generic executor
                result = await super().execute_single(
                    request, request_adapter, sub_response, context, None, admitted
                )
            refused = _refused_by_executor(result)
            if refused is not None:
                return self._refused(refused, context, sub_response)
            return await self._seal(context, result, sub_response)
        finally:
            await context.database.close()
            _evidence(request, context)
            agency, operation = self._labels(context)
            metrics.latency.labels(operation, agency).observe(time.perf_counter() - started)

    def _labels(self, context: GatewayContext) -> tuple[str, str]:
        """Metric labels stay bounded: registered agencies, and trusted documents by name
        (any other operation counts as `anonymous`, whatever name its author gave it)."""
        agency = context.principal.agency if context.principal else "unauthenticated"
        trusted = context.operation in context.services.trusted
        return agency, context.operation if trusted and context.operation else "anonymous"

    def _refuse(
        self, error: GatewayError, context: GatewayContext, sub_response: Response
    ) -> ExecutionResult:
        if error.code is ErrorCode.UNAUTHENTICATED:
            sub_response.headers["WWW-Authenticate"] = 'Bearer realm="lienthong"'
        if error.code is ErrorCode.RATE_LIMITED:
            sub_response.headers["Retry-After"] = str((error.extensions or {})["retryAfter"])
        return self._refused([error], context, sub_response)

    def _refused(
        self, errors: list[GraphQLError], context: GatewayContext, sub_response: Response
    ) -> ExecutionResult:
        """A request that did not execute: its status (4xx for the specification's media type,
        200 in plain JSON, but for the codes that always have their own) and its errors."""
        code = (errors[0].extensions or {}).get("code") if errors else None
        default = 400 if context.request_errors_4xx else 200
        status = next((s for c, s in STATUS.items() if c.value == code), default)
        sub_response.status_code = status
        self._count(context, str(code))
        return RequestRefused(data=None, errors=errors)

    def _count(self, context: GatewayContext, outcome: str) -> None:
        agency, operation = self._labels(context)
        context.services.metrics.requests.labels(operation, agency, outcome).inc()

    async def _admit(
        self,
        headers: Mapping[str, str],
        data: GraphQLRequestData,
        context: GatewayContext,
        sub_response: Response,
    ) -> GraphQLRequestData:
        services = context.services
        settings = services.settings
        # The request id is the server's own (unique, unforgeable: the access log's key for the
        # request); the client's X-Request-Id is kept beside it as a correlation id
        context.request_id = uuid.uuid4().hex
        sub_response.headers["X-Request-Id"] = context.request_id
        correlation = headers.get("x-request-id", "")
        if REQUEST_ID_PATTERN.match(correlation):
            context.correlation_id = correlation
            sub_response.headers["X-Correlation-Id"] = correlation

        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        try:
            principal = await services.verifier.verify(
                token.strip() if scheme.lower() == "bearer" else None
            )
        except AuthenticationError as error:
            raise GatewayError(ErrorCode.UNAUTHENTICATED, str(error)) from error
        context.principal = principal

        await _limit_rate(principal, services)

        # One resolution order for every caller (gateway.trusted_documents); in prod, agencies
        # and citizens run trusted documents only, stewards anything
        restricted = settings.env is Env.PROD and not principal.is_steward
        request = persisted(data)
        resolved = await services.catalogues.resolve(
            request, restricted=restricted, agency=principal.agency
        )
        query, operation_name, _ = await services.catalogues.confirm(
            resolved,
            request,
            restricted=restricted,
            agency=principal.agency,
            purpose=headers.get("x-purpose", "").strip() or None,
        )

        document_node = parse_limited(query, settings.graphql_max_tokens)
        shape = shape_of(document_node, operation_name, data.variables)
        if shape is None:  # before anything else is asked of it: which operation is unclear
            raise GatewayError(
                ErrorCode.GRAPHQL_VALIDATION_FAILED,
                f"the document has no operation named {operation_name!r}"
                if operation_name
                else "the document must hold exactly one operation, or name one in operationName",
            )
        context.operation = shape.operation_name
        if shape.depth > settings.graphql_max_depth:
            raise GatewayError(
                ErrorCode.QUERY_TOO_COMPLEX,
                f"the operation is {shape.depth} levels deep; at most "
                f"{settings.graphql_max_depth} are allowed",
            )
        if shape.introspection_depth > settings.graphql_max_introspection_depth:
            raise GatewayError(
                ErrorCode.QUERY_TOO_COMPLEX,
                f"the introspection query is {shape.introspection_depth} levels deep; at most "
                f"{settings.graphql_max_introspection_depth} are allowed",
            )
        if shape.cost > settings.graphql_max_cost:
            raise GatewayError(
                ErrorCode.QUERY_TOO_COMPLEX,
                f"the operation would resolve about {shape.cost} fields; at most "
                f"{settings.graphql_max_cost} are allowed",
            )

        purpose = headers.get("x-purpose", "").strip() or None
        if purpose is not None and not PURPOSE_PATTERN.match(purpose):
            raise bad_user_input("X-Purpose", "X-Purpose: a purpose code such as CT01 or TD-VAY")
        if purpose is None and shape.needs_purpose:
            raise GatewayError(
                ErrorCode.PURPOSE_REQUIRED,
                "registry data needs a declared purpose: send the X-Purpose header (e.g. CT01)",
            )
        context.needs_purpose = shape.needs_purpose
        context.admit(principal, purpose)
        return GraphQLRequestData(
            query=query,
            variables=data.variables,
            operation_name=operation_name,
            extensions=data.extensions,
            protocol=data.protocol,
        )

    async def _account(
        self, headers: Mapping[str, str], context: GatewayContext, *, fresh: bool
    ) -> None:
        try:
            await account(context, headers, needs_purpose=context.needs_purpose, fresh=fresh)
        except GatewayError:
            raise
        except Exception as error:  # the policy data or the limits could not be read
            log.error("admission data unavailable", error=type(error).__name__)
            raise unavailable("the policy data") from error

    async def _seal(
        self, context: GatewayContext, result: ExecutionResult, sub_response: Response
    ) -> ExecutionResult:
        for error in result.errors or []:
            original = error.original_error
            if isinstance(original, GatewayError) and original.code is ErrorCode.UNAVAILABLE:
                return self._refuse(original, context, sub_response)
            if original is not None and server_failed(original):
                # The database, not the query, failed: say so (503), as for policy and audit.
                return self._refuse(unavailable("the registry database"), context, sub_response)
        disclosures = context.guard.disclosures(
            request_id=context.request_id,
            officer=context.officer,
            operation=context.operation,
            dossier=context.dossier,
            correlation_id=context.correlation_id,
        )
        if disclosures:
            started = time.perf_counter()
            try:
                context.recorded.append(await context.services.audit.record(disclosures))
            except AuditUnavailable:
                log.error("access log unavailable", request_id=context.request_id)
                return self._refuse(unavailable("the access log"), context, sub_response)
            context.services.metrics.audit_flush.observe(time.perf_counter() - started)
            spend(context, disclosures)
        if result.errors:
            # One order whatever resolved first: refusals must not tell by their order what was
            # read (absent and refused subjects answer alike, in the same place)
            result.errors.sort(key=_path_order)
        codes = [(error.extensions or {}).get("code") for error in result.errors or []]
        self._count(context, next((c for c in codes if c), "ok"))
        return result


async def _limit_rate(principal: Principal, services: Services) -> None:
    """The caller's share of the request rate (shared by every process): a citizen's own, or
    their agency's."""
    settings = services.settings
    if principal.is_citizen and principal.citizen_id is not None:
        key = citizen_key(principal.citizen_id)
        rate, burst = settings.citizen_rate_per_second, settings.citizen_rate_burst
        who = "your"
    else:
        key = agency_key(principal.agency)
        rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
        who = f"agency {principal.agency}'s"
    try:
        wait = await services.rates.acquire(key, rate=rate, burst=burst)
    except LimitsUnavailable:
        # The primary is out of reach: nothing personal can be disclosed now (no access log,
        # no policy data), but reference data still can. This process's own bucket holds the
        # line meanwhile, at the full rate: at most one rate per process until it is back.
        log.warning("shared rate limits unreachable; limiting in this process")
        wait = services.fallback_rates.acquire(key, rate=rate, burst=burst)
    if wait > 0:
        retry_after = retry_after_seconds(wait)
        services.metrics.limit_refusals.labels("rate", principal.agency).inc()
        raise GatewayError(
            ErrorCode.RATE_LIMITED,
            f"{who} request rate is spent; retry in {retry_after} s",
            retryAfter=retry_after,
        )


def _evidence(request: Request, context: GatewayContext) -> None:
    """For a signed answer (the door asked for one): who asked, for what, and what the access
    log recorded, as the request ends."""
    evidence = request.scope.get("state", {}).get(ANSWER_STATE)
    if not isinstance(evidence, AnswerEvidence):
        return
    evidence.request_id = context.request_id or None
    evidence.agency = context.principal.agency if context.principal is not None else None
    evidence.officer = context.officer.as_log() if context.officer is not None else None
    evidence.purpose = context.purpose
    evidence.dossier = context.dossier
    evidence.recorded = list(context.recorded)


def _answers_in_graphql_response(request: Request) -> bool:
    return bool(request.scope.get("state", {}).get(MEDIA_STATE) == GRAPHQL_RESPONSE)


def _refused_by_executor(result: ExecutionResult) -> list[GraphQLError] | None:
    """The request errors of a document the executor would not run, with the contract's codes:
    validation errors (no original error) and variables that do not fit their types (graphql-core
    wraps those in a GraphQLError); neither has a path nor a code. None when it ran. New error
    objects: strawberry's validation cache hands every identical document the same ones."""
    errors = result.errors or []
    if result.data is not None or not errors:
        return None
    for error in errors:
        if error.path is not None or (error.extensions or {}).get("code"):
            return None
        if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
            return None
    return [
        GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            extensions={
                **(error.extensions or {}),
                "code": "GRAPHQL_VALIDATION_FAILED"
                if error.original_error is None
                else ErrorCode.BAD_USER_INPUT.value,
            },
        )
        for error in errors
    ]


def _path_order(error: GraphQLError) -> list[tuple[int, int | str]]:
    """Errors in the order of their paths (response keys by name, list items by index)."""
    return [(0, step) if isinstance(step, int) else (1, step) for step in error.path or []]
