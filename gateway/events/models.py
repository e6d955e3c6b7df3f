"""Deliveries: one per subscription and event, holding the exact bytes the subscriber is sent.

Invariants: the payload is decided once, when the delivery is created, and never altered: every
retry sends the same bytes under the same event id; a delivery no longer allowed is cancelled
(with the reason), not rewritten; at most one delivery per (subscription, event)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base

DELIVERY_STATUSES = ("pending", "delivered", "failed", "dead", "cancelled")


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status"),
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    delivery_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(Text)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_seq: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    fields_given: Mapped[list[str]] = mapped_column(ARRAY(Text))
    fields_masked: Mapped[list[str]] = mapped_column(ARRAY(Text))
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    locked_by: Mapped[str | None] = mapped_column(Text)  # a worker's lease on it
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    cancelled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SubscriptionCursor(Base):
    """How far fan-out has gone for one subscription: the feed position `(txid, seq)` of the last
    event it examined (gateway/events/fanout.py). Set when the subscription is approved (again,
    after a suspension) at the end of the feed below the horizon, with the approving
    transaction's snapshot: events committed before the approval (visible in that snapshot)
    are not sent, every later one is. One per lane: a subscription's subjects are split into
    lanes by a hash of their key, and a lane's row is what a worker locks (SKIP LOCKED) to fan
    its events out, so several workers share one subscription, never one lane."""

    __tablename__ = "subscription_cursors"

    subscription_id: Mapped[str] = mapped_column(Text, primary_key=True)
    lane: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    after_txid: Mapped[int] = mapped_column(BigInteger)
    after_seq: Mapped[int] = mapped_column(BigInteger)
    opened_snapshot: Mapped[str] = mapped_column(Text)  # pg_snapshot as text
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
