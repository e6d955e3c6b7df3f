"""Subscriptions as the steward API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.admin.types import CLIENT_ID, ClientId, PurposeCode
from gateway.policy.models import Subscription

SUBSCRIPTION_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
# A subscription's id: its agency's client id, a slash, its name
SUBSCRIPTION_ID = rf"{CLIENT_ID.rstrip('$')}/{SUBSCRIPTION_NAME.lstrip('^')}"
Name = Annotated[str, StringConstraints(pattern=SUBSCRIPTION_NAME)]
EventTypeName = Annotated[str, StringConstraints(pattern=r"^[a-z]+\.[a-z_]+$", max_length=64)]
Endpoint = Annotated[str, StringConstraints(min_length=8, max_length=2000)]


class SubscriptionIn(BaseModel):
    """An agency's subscription to event types for a purpose; `endpoint` (HTTPS) to be pushed
    to, or none to pull the feed only."""

    model_config = ConfigDict(extra="forbid")

    agency: ClientId
    purpose: PurposeCode
    name: Name
    event_types: Annotated[list[EventTypeName], Field(min_length=1, max_length=20)]
    endpoint: Endpoint | None = None


class SubscriptionOut(BaseModel):
    subscription_id: str
    agency: str
    purpose: str
    name: str
    event_types: list[str]
    endpoint: str | None
    needs: list[str] = Field(description="The registries whose stewards approve it.")
    status: str
    approvals: dict[str, str]
    created_by: str
    changed_by: str | None
    note: str | None
    version: int
    valid_from: datetime
    valid_to: datetime | None
    secret: str | None = Field(
        default=None,
        description="The signing secret (Standard Webhooks `whsec_…`): in the answer that "
        "creates the subscription only; hand it to the agency over a separate channel.",
    )

    @classmethod
    def of(
        cls, subscription: Subscription, needs: list[str], *, secret: str | None = None
    ) -> SubscriptionOut:
        return cls(
            subscription_id=subscription.subscription_id,
            agency=subscription.agency,
            purpose=subscription.purpose,
            name=subscription.name,
            event_types=list(subscription.event_types),
            endpoint=subscription.endpoint,
            needs=needs,
            status=subscription.status,
            approvals=dict(subscription.approvals or {}),
            created_by=subscription.created_by,
            changed_by=subscription.changed_by,
            note=subscription.note,
            version=subscription.version_id,
            valid_from=subscription.valid_from,
            valid_to=subscription.valid_to,
            secret=secret,
        )


DELIVERY_STATUSES = ("pending", "delivered", "failed", "dead", "cancelled")


class DeliveryOut(BaseModel):
    """One delivery in a subscription's delivery log: never its payload nor its subject."""

    delivery_id: int
    subscription_id: str = Field(description="Its subscription: `agency/name`.")
    event_id: str = Field(description="The event's id: the `webhook-id` every attempt carried.")
    event_type: str
    status: str = Field(description="pending, delivered, failed (to be retried), dead, cancelled")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is due (pending, failed).")
    last_error: str | None
    last_status: int | None = Field(description="The HTTP status of the last answer.")
    latency_ms: int | None = Field(description="From sending to the last answer.")
    fields_given: list[str]
    fields_masked: list[str]
    cancelled_reason: str | None
    created_at: datetime
    delivered_at: datetime | None
    in_flight: bool = Field(description="A worker holds it for an attempt now.")
    redeliverable: bool = Field(
        description="Dead, or cancelled because the subscription was suspended: a steward may "
        "send it again."
    )
