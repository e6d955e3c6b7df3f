"""Subscriptions: an agency's standing request for change events (registries.events) of some
types, for a purpose, reviewed like agency documents (gateway.admin.review).

Invariants:
- a subscription is accepted for review only when the agency's agreements for the purpose grant
  every field each of its event types reveals (an event type is personal data by itself: a
  death, a move), and approved only while they still do; the refusal names what is missing;
- it is approved by stewards of every registry its event types concern, none its proposer;
- its signing secret is generated here, returned once in the answer that creates it, and never
  shown again (the agency's receiver verifies signatures with it);
- a push endpoint is HTTPS; plain HTTP only to a loopback address outside production (tests,
  a developer's receiver).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import uuid
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import review
from gateway.admin.approvals import domains_of, holds
from gateway.admin.history import current, keyset_page, versions
from gateway.admin.http import decode_id_cursor
from gateway.admin.problems import AdminCode, Problem, bad_input, conflict, forbidden, not_found
from gateway.admin.subscriptions.models import SubscriptionIn
from gateway.errors import ErrorCode
from gateway.events import deliveries, fanout
from gateway.graph.reach import Read, uncovered
from gateway.identity.principal import Principal
from gateway.policy.models import Purpose, Subscription
from gateway.policy.service import agency_province, agency_status, agreements_in_scope
from gateway.subjects import SUBJECT_KINDS
from registries.events import EVENT_TYPES
from registries.history import is_current, supersede

WHAT = "subscription"


def subscription_id(agency: str, name: str) -> str:
    return f"{agency}/{name}"


def needs(subscription: Subscription) -> frozenset[str]:
    """The registries whose stewards approve it: those its event types' subjects belong to."""
    return domains_of({EVENT_TYPES[t].subject_type for t in subscription.event_types})


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _reads(event_types: list[str]) -> list[Read]:
    """What receiving these types reveals, as reads of subjects reached by key: the fields
    each type reveals, and the subject's own key, which every payload names (the subscriber
    never sent it: gateway/events/payloads.py decides it like any field)."""
    return sorted(
        {Read(EVENT_TYPES[t].subject_type, field, None) for t in event_types
         for field in (*EVENT_TYPES[t].reveals,
                       SUBJECT_KINDS[EVENT_TYPES[t].subject_type].key_field)}
    )  # fmt: skip


def _check_endpoint(endpoint: str | None, *, production: bool) -> None:
    if endpoint is None:
        return
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and not production:
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return
        except ValueError:
            pass
    raise bad_input(
        "endpoint",
        "an HTTPS URL (plain HTTP only to a loopback address, and not in production)",
    )


async def _missing(session: AsyncSession, agency: str, purpose: str, types: list[str]) -> list[str]:
    agreements = await agreements_in_scope(session=session, agency=agency, purpose=purpose)
    now = (await session.execute(select(func.now()))).scalar_one()
    return uncovered(_reads(types), agreements, now)


async def propose(
    *, session: AsyncSession, new: SubscriptionIn, actor: str, production: bool
) -> tuple[Subscription, str]:
    """The subscription submitted for review, and its signing secret (returned this once)."""
    if await agency_status(session=session, agency=new.agency) != "active":
        raise bad_input("agency", f"no active agency {new.agency!r} is registered")
    known = await session.execute(
        select(func.count()).where(Purpose.code == new.purpose, is_current(Purpose))
    )
    if not known.scalar_one():
        raise bad_input("purpose", f"no purpose {new.purpose!r} in the catalogue")
    unknown = sorted(set(new.event_types) - EVENT_TYPES.keys())
    if unknown:
        raise bad_input(
            "event_types", f"no event type {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})"
        )
    _check_endpoint(new.endpoint, production=production)
    types = sorted(set(new.event_types))
    missing = await _missing(session, new.agency, new.purpose, types)
    if missing:
        raise Problem(
            422,
            ErrorCode.BAD_USER_INPUT,
            f"event_types: no agreement of {new.agency} for {new.purpose} gives "
            f"{', '.join(missing)}, which these events reveal",
            argument="event_types",
            uncovered=missing,
        )
    key = subscription_id(new.agency, new.name)
    exists = await session.execute(
        select(func.count()).where(Subscription.subscription_id == key, is_current(Subscription))
    )
    if exists.scalar_one():
        raise conflict(f"subscription {key!r} exists")
    secret = new_secret()
    subscription, _ = await supersede(
        session=session,
        model=Subscription,
        key={"subscription_id": key},
        values={
            "agency": new.agency,
            "purpose": new.purpose,
            "name": new.name,
            "event_types": types,
            "endpoint": new.endpoint,
            "secret": secret,
            **review.proposal(actor),
        },
    )
    return subscription, secret


async def decide(
    *,
    session: AsyncSession,
    agency: str,
    name: str,
    action: str,
    decider: Principal,
    note: str | None,
    if_match: str | None,
) -> Subscription:
    """A step of the review; an approval counts only while the agreements still grant what the
    event types reveal."""

    async def still_granted(found: Subscription) -> None:
        missing = await _missing(session, found.agency, found.purpose, list(found.event_types))
        if missing:
            raise Problem(
                409,
                AdminCode.CONFLICT,
                f"the agreements of {found.agency} for {found.purpose} no longer give "
                f"{', '.join(missing)}: reject it, or have them approved first",
                uncovered=missing,
            )

    decided = await review.decide(
        session=session,
        model=Subscription,
        key={"subscription_id": subscription_id(agency, name)},
        what=WHAT,
        action=action,
        decider=decider,
        note=note,
        if_match=if_match,
        needs=needs,
        still_holds=still_granted,
    )
    if decided.status == "approved" and decided.endpoint is not None:
        # in force from now: pushed what is committed after this approval, as the feed reads
        # what is recorded after it (gateway/events/fanout.py)
        await fanout.open_cursor(session, decided.subscription_id)
    if decided.status == "revoked":
        await deliveries.cancel_pending(
            session,
            subscription_id=decided.subscription_id,
            reason=f"{deliveries.REVOKED}: the subscription is revoked ({note})",
        )
    return decided


async def list_subscriptions(
    *, session: AsyncSession, agency: str | None, limit: int, cursor: str | None
) -> tuple[list[Subscription], str | None]:
    query = select(Subscription).where(is_current(Subscription))
    if agency is not None:
        query = query.where(Subscription.agency == agency)
    return await keyset_page(
        session=session, query=query, key=Subscription.subscription_id, limit=limit, cursor=cursor
    )


async def get_subscription(*, session: AsyncSession, agency: str, name: str) -> Subscription:
    key = {"subscription_id": subscription_id(agency, name)}
    return await current(session=session, model=Subscription, key=key, what=WHAT)


async def subscription_versions(
    *, session: AsyncSession, agency: str, name: str
) -> list[Subscription]:
    key = {"subscription_id": subscription_id(agency, name)}
    return await versions(session=session, model=Subscription, key=key, what=WHAT)


async def delivery_log(
    *,
    session: AsyncSession,
    agency: str,
    name: str,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[deliveries.LogEntry], str | None]:
    """The subscription's deliveries, newest first."""
    found = await get_subscription(session=session, agency=agency, name=name)
    return await deliveries.log_page(
        session,
        subscription_id=found.subscription_id,
        status=status,
        limit=limit,
        before=_before(cursor),
    )


async def all_deliveries(
    *,
    session: AsyncSession,
    agency: str | None,
    subscription: str | None,
    event_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[deliveries.LogEntry], str | None]:
    """Deliveries of every subscription (or one agency's, one subscription's, one event's),
    newest first."""
    return await deliveries.log_page(
        session,
        subscription_id=subscription,
        agency=agency,
        event_id=event_id,
        status=status,
        limit=limit,
        before=_before(cursor),
    )


def _before(cursor: str | None) -> int | None:
    return None if cursor is None else decode_id_cursor(cursor)


async def subscription_of(*, session: AsyncSession, delivery_id: int) -> tuple[str, str]:
    """The agency and name of a delivery's subscription (404 for no such delivery)."""
    entry = await deliveries.one(session, delivery_id=delivery_id)
    if entry is None:
        raise not_found("delivery", str(delivery_id))
    agency, name = entry.subscription_id.split("/", 1)
    return agency, name


async def redeliver(
    *, session: AsyncSession, agency: str, name: str, delivery_id: int, steward: Principal
) -> deliveries.LogEntry:
    """A dead delivery, or one cancelled because its subscription was suspended, due again now
    (the check before its attempt still applies), by a steward of a registry its event types
    concern; no second steward needed: it sends again what was already decided."""
    found = await get_subscription(session=session, agency=agency, name=name)
    province = await agency_province(session=session, agency=found.agency)
    scopes = needs(found)
    if not any(holds(steward, scope, province) for scope in scopes):
        raise forbidden(
            f"to redeliver needs a steward of: {', '.join(sorted(scopes))}; your roles hold none",
            "scope",
        )
    entry = await deliveries.one(
        session, subscription_id=found.subscription_id, delivery_id=delivery_id
    )
    if entry is None:
        raise not_found("delivery", f"{found.subscription_id}/{delivery_id}")
    if not deliveries.redeliverable(entry):
        why = entry.cancelled_reason or entry.status
        raise conflict(
            f"only a dead delivery, or one cancelled because its subscription was suspended, "
            f"is redelivered; this one is {entry.status} ({why})"
        )
    if found.status != "approved":
        raise conflict(f"the subscription is {found.status}: approve it again first")
    await deliveries.redeliver(session, delivery_id=delivery_id)
    again = await deliveries.one(
        session, subscription_id=found.subscription_id, delivery_id=delivery_id
    )
    if again is None:  # it was there a moment ago, in this very transaction
        raise not_found("delivery", f"{found.subscription_id}/{delivery_id}")
    return again
