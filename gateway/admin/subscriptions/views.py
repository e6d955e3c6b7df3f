"""`/admin/subscriptions`: agencies' subscriptions to change events, proposed, reviewed by the
stewards of every registry their event types concern (four-eyes), suspended, resubmitted,
revoked, with their history: `/admin/subscriptions/{agency}/{name}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from gateway.admin.agreements.models import OptionalNote
from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.subscriptions import service
from gateway.admin.subscriptions.models import SUBSCRIPTION_NAME, SubscriptionIn, SubscriptionOut
from gateway.admin.types import CLIENT_ID
from gateway.policy.models import Subscription
from lienthong.settings import Env

router = APIRouter(prefix="/subscriptions", tags=["event subscriptions"])
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
