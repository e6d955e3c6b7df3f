"""The pull feed of change events: GraphQL `changes(after, first)` and `GET /events` (NDJSON).

An agency reads the events of its approved subscriptions for the purpose it declares
(`X-Purpose`), each with the payload decided for it (gateway/events/payloads.py), in commit order.

Invariants:
- order: events are read in `(txid, seq)` order, and only those whose writing transaction's id
  is below the horizon (`registries.events.HORIZON`: the snapshot's xmin but for other
  databases' transactions): every transaction of this database below it has
  ended. A transaction that commits late has an id below every later one's, so its events are
  held back until it ends, never left behind a cursor already handed out; the order is the
  database's, the same from every process and across restarts;
- a cursor is opaque (gateway/cursors.py) over the last event read, returned or skipped: an
  event the agency may not receive (a type no subscription of this purpose names, a refused
  decision, one recorded before the subscription's approval in force) is skipped, never shown
  as an error, and a page may hold fewer than `first` events;
- every event given is a disclosure: the request's access-log entries carry, per subject, the
  event's id, written durably before the answer leaves (the router's seal for GraphQL, here for
  NDJSON); the officer, dossier, quota and rate rules are those of any read of registry data;
- an agency with no approved subscription for the purpose is refused (FORBIDDEN at `changes`):
  there is nothing to read, and saying so reveals nothing of anyone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import BigInteger, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from gateway.audit.writer import AuditUnavailable
from gateway.cursors import CursorError, decode_cursor, encode_cursor
from gateway.errors import ErrorCode, GatewayError, bad_user_input, forbidden, unavailable
from gateway.events.payloads import Decided, decide_payloads
from gateway.graph.accountable import account, spend
from gateway.graph.context import GatewayContext, RequestDatabase
from gateway.identity.errors import AuthenticationError
from gateway.policy.models import Subscription
from registries.events import HORIZON, ChangeEvent
from registries.history import is_current
from registries.routing import server_failed

if TYPE_CHECKING:
    from gateway.graph.context import Services

log = structlog.get_logger(__name__)

DEFAULT_FIRST = 100
MAX_FIRST = 500
FEED_PATH = "/events"
NDJSON = "application/x-ndjson"
FEED_FIELD = "changes"
STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.OFFICER_REQUIRED: 403,
    ErrorCode.DOSSIER_REQUIRED: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
}


@dataclass(frozen=True)
class FeedPage:
    changes: list[Decided]  # in feed order
    end_cursor: str | None  # after the last event read (the `after` given, if none was)
    has_next_page: bool  # more events are readable now (later ones may come: ask again)


async def read_feed(
    context: GatewayContext,
    *,
    after: str | None,
    first: int | None,
    arguments: tuple[str, str] = ("after", "first"),
) -> FeedPage:
    """One page of the caller's feed (the request admitted: token, purpose, officer, quotas);
    each event given is logged with the request (`Guard.adopt`). `arguments` names `after` and
    `first` in the caller's API, for BAD_USER_INPUT."""
    principal = context.caller
    if principal.is_citizen or not principal.is_agency:
        raise forbidden(FEED_FIELD, "only an agency's software reads its change feed")
    purpose = context.purpose
    if purpose is None:
        raise GatewayError(
            ErrorCode.PURPOSE_REQUIRED,
            "the change feed is read for a purpose: send X-Purpose, your subscription's purpose",
        )
    size = DEFAULT_FIRST if first is None else first
    if not 1 <= size <= MAX_FIRST:
        raise bad_user_input(arguments[1], f"{arguments[1]}: between 1 and {MAX_FIRST}")
    position = _position(after, arguments[0])
    services = context.services
    # The primary's, for the registry rows too: a replica may not have an event's versions yet
    database = RequestDatabase(services.sessions)
    try:
        async with database.session() as session:
            subscribed = await _subscriptions(session, principal.agency, purpose)
            if not subscribed:
                raise forbidden(
                    FEED_FIELD,
                    f"no approved subscription of {principal.agency} for purpose {purpose}",
                )
            read = await _events(session, subscribed, position, size + 1)
        page = read[:size]
        by_type = {t: s for s, _ in subscribed for t in s.event_types}
        theirs: dict[str, list[ChangeEvent]] = {}  # the page's events, by subscription
        for event in page:
            theirs.setdefault(by_type[event.type].subscription_id, []).append(event)
        decided: dict[int, Decided | None] = {}
        for events in theirs.values():
            payloads = await decide_payloads(
                events=events,
                subscription=by_type[events[0].type],
                engine=services.policy,
                agreements=services.agreements,
                database=database,
                reference=services.reference,
                metrics=services.metrics,
                principal=principal,
                policy_version=context.guard.policy_version,
            )
            decided.update(zip((e.seq for e in events), payloads, strict=True))
        given = []
        for event in page:  # in commit order, each logged with this request
            payload = decided[event.seq]
            if payload is not None:
                context.guard.adopt(payload.record, payload.log_note("pull"))
                given.append(payload)
    finally:
        await database.close()
    end = _cursor(page[-1]) if page else after
    return FeedPage(changes=given, end_cursor=end, has_next_page=len(read) > size)


def _position(after: str | None, argument: str) -> tuple[int, int] | None:
    if after is None:
        return None
    try:
        txid, seq = decode_cursor(after, 2)
        if not (txid.isascii() and txid.isdigit() and seq.isascii() and seq.isdigit()):
            raise CursorError("invalid cursor")
    except CursorError as error:
        raise bad_user_input(argument, f"{argument}: not a cursor this API handed out") from error
    return int(txid), int(seq)


def _cursor(event: ChangeEvent) -> str:
    return encode_cursor(str(event.txid), str(event.seq))


async def _subscriptions(
    session: AsyncSession, agency: str, purpose: str
) -> list[tuple[Subscription, datetime]]:
    """The agency's approved subscriptions for the purpose, each with the instant it has been
    approved since (the end of its last version that was not approved, or its first version)."""
    past = aliased(Subscription)
    interrupted = (
        select(func.max(past.valid_to))
        .where(past.subscription_id == Subscription.subscription_id, past.status != "approved")
        .scalar_subquery()
    )
    first = (
        select(func.min(past.valid_from))
        .where(past.subscription_id == Subscription.subscription_id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Subscription, func.coalesce(interrupted, first))
        .where(
            is_current(Subscription),
            Subscription.agency == agency,
            Subscription.purpose == purpose,
            Subscription.status == "approved",
        )
        .order_by(Subscription.subscription_id)
    )
    return [(subscription, since) for subscription, since in rows.all() if since is not None]


async def _events(
    session: AsyncSession,
    subscribed: Sequence[tuple[Subscription, datetime]],
    position: tuple[int, int] | None,
    limit: int,
) -> list[ChangeEvent]:
    """Up to `limit` events after `position` below the horizon, of the subscribed types, each
    recorded since a subscription of its type was approved, in feed order."""
    since: dict[str, datetime] = {}
    for subscription, approved in subscribed:
        for event_type in subscription.event_types:
            since[event_type] = min(approved, since.get(event_type, approved))
    query = select(ChangeEvent).where(
        ChangeEvent.txid < HORIZON,
        or_(*(and_(ChangeEvent.type == t, ChangeEvent.recorded_at >= s) for t, s in since.items())),
    )
    if position is not None:
        query = query.where(
            tuple_(ChangeEvent.txid, ChangeEvent.seq)
            > tuple_(literal(position[0], BigInteger), literal(position[1], BigInteger))
        )
    rows = await session.execute(query.order_by(ChangeEvent.txid, ChangeEvent.seq).limit(limit))
    return list(rows.scalars())


router = APIRouter(include_in_schema=False)


@router.get(FEED_PATH)
async def events(request: Request) -> Response:
    """`GET /events?after=&limit=`: the feed as NDJSON, one payload a line (the bytes a webhook
    would carry), then `{"cursor", "hasNextPage"}`; admitted as `/graphql` admits a read of
    registry data, and logged before the first byte leaves."""
    services: Services = request.app.state.services
    context = GatewayContext(services)
    context.operation = "events"
    headers: dict[str, str] = {}
    started = time.perf_counter()
    try:
        try:
            await _admit(request, context, headers)
            page = await read_feed(
                context,
                after=request.query_params.get("after") or None,  # `after=`: from the start
                first=_limit(request.query_params.get("limit") or None),
                arguments=("after", "limit"),
            )
            await _seal(context)
        except GatewayError as error:
            return _refused(error, context, headers)
        except Exception as error:
            if not server_failed(error):
                raise
            return _refused(unavailable("the registry database"), context, headers)
    finally:
        await context.database.close()
        agency = context.principal.agency if context.principal else "unauthenticated"
        services.metrics.latency.labels("events", agency).observe(time.perf_counter() - started)
    _count(context, "ok")
    return StreamingResponse(_lines(page), media_type=NDJSON, headers=headers)


async def _lines(page: FeedPage) -> AsyncIterator[bytes]:
    for decided in page.changes:
        yield decided.payload + b"\n"
    yield orjson.dumps({"cursor": page.end_cursor, "hasNextPage": page.has_next_page}) + b"\n"


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 6:
        raise bad_user_input("limit", f"limit: between 1 and {MAX_FIRST}")
    return int(value)


async def _admit(request: Request, context: GatewayContext, headers: dict[str, str]) -> None:
    """What `/graphql` admits a read of registry data by (gateway/graph/router.py): the token,
    the shared rate, the purpose, then officer, dossier and quotas (gateway/graph/accountable.py).
    """
    # the router imports the schema, which imports this module
    from gateway.graph.router import (  # noqa: PLC0415
        PURPOSE_PATTERN,
        REQUEST_ID_PATTERN,
        _limit_rate,
    )

    services = context.services
    context.request_id = uuid.uuid4().hex
    headers["X-Request-Id"] = context.request_id
    correlation = request.headers.get("x-request-id", "")
    if REQUEST_ID_PATTERN.match(correlation):
        context.correlation_id = correlation
        headers["X-Correlation-Id"] = correlation
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        principal = await services.verifier.verify(
            token.strip() if scheme.lower() == "bearer" else None
        )
    except AuthenticationError as error:
        raise GatewayError(ErrorCode.UNAUTHENTICATED, str(error)) from error
    context.principal = principal
    await _limit_rate(principal, services)
    purpose = request.headers.get("x-purpose", "").strip() or None
    if purpose is not None and not PURPOSE_PATTERN.match(purpose):
        raise bad_user_input("X-Purpose", "X-Purpose: a purpose code such as CT01 or TD-VAY")
    if purpose is None:
        raise GatewayError(
            ErrorCode.PURPOSE_REQUIRED,
            "the change feed is read for a purpose: send X-Purpose, your subscription's purpose",
        )
    context.needs_purpose = True
    context.admit(principal, purpose)
    try:
        await account(context, request.headers, needs_purpose=True, fresh=True)
    except GatewayError:
        raise
    except Exception as error:  # the policy data or the limits could not be read
        log.error("admission data unavailable", error=type(error).__name__)
        raise unavailable("the policy data") from error


async def _seal(context: GatewayContext) -> None:
    """The page's access-log entries, durable before anything is sent; UNAVAILABLE if not."""
    disclosures = context.guard.disclosures(
        request_id=context.request_id,
        officer=context.officer,
        operation=context.operation,
        dossier=context.dossier,
        correlation_id=context.correlation_id,
    )
    if not disclosures:
        return
    try:
        await context.services.audit.record(disclosures)
    except AuditUnavailable as error:
        log.error("access log unavailable", request_id=context.request_id)
        raise unavailable("the access log") from error
    spend(context, disclosures)


def _refused(error: GatewayError, context: GatewayContext, headers: dict[str, str]) -> Response:
    """A refusal in the one error shape of every layer (docs/contract.md, "HTTP")."""
    code = ErrorCode((error.extensions or {})["code"])
    if code is ErrorCode.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = 'Bearer realm="lienthong"'
    if code is ErrorCode.RATE_LIMITED:
        headers["Retry-After"] = str((error.extensions or {})["retryAfter"])
    _count(context, code.value)
    body: dict[str, Any] = {"errors": [{"message": error.message, "extensions": error.extensions}]}
    return Response(
        orjson.dumps(body),
        status_code=STATUS.get(code, 400),
        media_type="application/json",
        headers=headers,
    )


def _count(context: GatewayContext, outcome: str) -> None:
    agency = context.principal.agency if context.principal else "unauthenticated"
    context.services.metrics.requests.labels("events", agency, outcome).inc()
