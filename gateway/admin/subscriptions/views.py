"""`/admin/subscriptions`: agencies' subscriptions to change events, proposed, reviewed by the
stewards of every registry their event types concern (four-eyes), suspended, resubmitted,
revoked, with their history: `/admin/subscriptions/{agency}/{name}`."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from gateway.admin.agreements.models import OptionalNote
from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.subscriptions import service
from gateway.admin.subscriptions.models import (
    DELIVERY_STATUSES,
    SUBSCRIPTION_ID,
    SUBSCRIPTION_NAME,
    DeliveryOut,
    SubscriptionIn,
    SubscriptionOut,
)
from gateway.admin.types import CLIENT_ID
from gateway.events.deliveries import LogEntry, redeliverable
from gateway.policy.models import Subscription
from lienthong.settings import Env

router = APIRouter(prefix="/subscriptions", tags=["event subscriptions"])
# Every subscription's delivery log in one place, with the same entries and redelivery
deliveries_router = APIRouter(prefix="/deliveries", tags=["event subscriptions"])
AgencyPath = Annotated[str, Path(pattern=CLIENT_ID, description="The agency's client id.")]
NamePath = Annotated[str, Path(pattern=SUBSCRIPTION_NAME, description="The subscription's name.")]
Note = Annotated[OptionalNote | None, Body()]


def _out(subscription: Subscription, secret: str | None = None) -> SubscriptionOut:
    needs = sorted(service.needs(subscription))
    return SubscriptionOut.of(subscription, needs, secret=secret)


@router.get("", responses=responses())
async def list_subscriptions(
    *,
    admin: AdminDep,
    agency: Annotated[str | None, Query(pattern=CLIENT_ID)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SubscriptionOut]:
    async with admin.transaction() as session:
        items, after = await service.list_subscriptions(
            session=session, agency=agency, limit=limit, cursor=cursor
        )
    return Page(items=[_out(s) for s in items], next_cursor=after)


@router.post("", status_code=201, responses=responses(409))
async def propose_subscription(
    *, new: SubscriptionIn, admin: AdminDep, steward: StewardDep, response: Response
) -> SubscriptionOut:
    """Checked against the agency's agreements (422 naming every field its event types reveal
    that no agreement gives), then submitted. The answer carries the signing secret, this once."""
    production = admin.services.settings.env is Env.PROD
    async with admin.transaction() as session:
        subscription, secret = await service.propose(
            session=session, new=new, actor=steward.subject, production=production
        )
    response.headers["Location"] = f"/admin/subscriptions/{subscription.subscription_id}"
    tag(response, subscription.version_id)
    return _out(subscription, secret)


@router.get("/{agency}/{name}/versions", responses=responses(404))
async def subscription_versions(
    *, agency: AgencyPath, name: NamePath, admin: AdminDep
) -> list[SubscriptionOut]:
    async with admin.transaction() as session:
        history = await service.subscription_versions(session=session, agency=agency, name=name)
    return [_out(s) for s in history]


@router.get("/{agency}/{name}", responses=responses(404))
async def read_subscription(
    *, agency: AgencyPath, name: NamePath, admin: AdminDep, response: Response
) -> SubscriptionOut:
    async with admin.transaction() as session:
        subscription = await service.get_subscription(session=session, agency=agency, name=name)
    tag(response, subscription.version_id)
    return _out(subscription)


def _decision(action: str, description: str) -> None:
    async def decision(
        *,
        agency: AgencyPath,
        name: NamePath,
        admin: AdminDep,
        steward: StewardDep,
        response: Response,
        body: Note = None,
        if_match: IfMatch = None,
    ) -> SubscriptionOut:
        async with admin.transaction() as session:
            subscription = await service.decide(
                session=session,
                agency=agency,
                name=name,
                action=action,
                decider=steward,
                note=body.note if body else None,
                if_match=if_match,
            )
        tag(response, subscription.version_id)
        return _out(subscription)

    decision.__name__ = f"{action}_subscription"
    router.post(
        f"/{{agency}}/{{name}}/{action}",
        responses=responses(403, 404, 409, 412, 428),
        description=description,
    )(decision)


_decision(
    "approve",
    "By a steward of a registry its event types concern who did not propose it (403 "
    "`four_eyes` or `scope` otherwise); approved once every such registry has approved. 409 "
    "if its agreements no longer give what its events reveal.",
)
_decision("reject", "Like approval, by a steward of a registry it concerns; `note` says why.")
_decision("suspend", "No delivery is made or attempted while suspended; `note` says why.")
_decision("resubmit", "A rejected or suspended subscription, for review afresh.")
_decision("revoke", "For good: its deliveries not yet made are cancelled; `note` says why.")


def _delivery(entry: LogEntry) -> DeliveryOut:
    fields = asdict(entry)
    fields["event_id"] = str(entry.event_id)
    return DeliveryOut(**fields, redeliverable=redeliverable(entry))


DeliveryStatus = Literal[DELIVERY_STATUSES]  # type: ignore[valid-type]


@router.get("/{agency}/{name}/deliveries", responses=responses(404))
async def delivery_log(
    *,
    agency: AgencyPath,
    name: NamePath,
    admin: AdminDep,
    status: Annotated[DeliveryStatus | None, Query(description="Only deliveries in it.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """The subscription's delivery log, newest first: status, attempts, the last error and
    HTTP status, latency; never a payload or a subject."""
    async with admin.transaction() as session:
        items, after = await service.delivery_log(
            session=session, agency=agency, name=name, status=status, limit=limit, cursor=cursor
        )
    return Page(items=[_delivery(e) for e in items], next_cursor=after)


@router.post(
    "/{agency}/{name}/deliveries/{delivery_id}/redeliver", responses=responses(403, 404, 409)
)
async def redeliver(
    *,
    agency: AgencyPath,
    name: NamePath,
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    admin: AdminDep,
    steward: StewardDep,
) -> DeliveryOut:
    """A dead delivery, or one cancelled because the subscription was suspended, due again now
    with a fresh count of attempts (409 otherwise, or while the subscription is not approved),
    by a steward of a registry its event types concern (403 `scope`); its payload is the one
    decided when it was made, and the check before each attempt still applies."""
    async with admin.transaction() as session:
        entry = await service.redeliver(
            session=session, agency=agency, name=name, delivery_id=delivery_id, steward=steward
        )
    return _delivery(entry)


@deliveries_router.get("", responses=responses())
async def all_deliveries(
    *,
    admin: AdminDep,
    agency: Annotated[str | None, Query(pattern=CLIENT_ID, description="One agency's.")] = None,
    subscription: Annotated[
        str | None,
        Query(pattern=SUBSCRIPTION_ID, description="One subscription's (`agency/name`)."),
    ] = None,
    event_id: Annotated[uuid.UUID | None, Query(description="One event's deliveries.")] = None,
    status: Annotated[DeliveryStatus | None, Query(description="Only deliveries in it.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """Every subscription's deliveries, newest first, each naming its subscription: status,
    attempts, the last error and HTTP status, latency; never a payload or a subject."""
    async with admin.transaction() as session:
        items, after = await service.all_deliveries(
            session=session,
            agency=agency,
            subscription=subscription,
            event_id=event_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )
    return Page(items=[_delivery(e) for e in items], next_cursor=after)


@deliveries_router.post("/{delivery_id}/redeliver", responses=responses(403, 404, 409))
async def redeliver_delivery(
    *,
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    admin: AdminDep,
    steward: StewardDep,
) -> DeliveryOut:
    """`POST /subscriptions/{agency}/{name}/deliveries/{id}/redeliver`, by the delivery's id
    alone."""
    async with admin.transaction() as session:
        agency, name = await service.subscription_of(session=session, delivery_id=delivery_id)
        entry = await service.redeliver(
            session=session, agency=agency, name=name, delivery_id=delivery_id, steward=steward
        )
    return _delivery(entry)
