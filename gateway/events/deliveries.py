"""Deliveries as workers and stewards move them: claimed under a lease, delivered, failed (to be
retried), dead, cancelled, redelivered.

Invariants:
- a worker claims due deliveries with `FOR UPDATE SKIP LOCKED` and a lease (`locked_by`,
  `locked_until`) held in the row, not a lock held open: no transaction stays open across a
  webhook request. Another worker takes a delivery only once its lease has ended, and a worker
  gives an attempt up before its lease ends (gateway/events/worker.py), so one delivery never
  has two attempts at once; a killed worker's deliveries are taken again when their leases end;
- a claim counts the attempt (`attempts` + 1) and `(locked_by, attempts)` is its fencing token:
  an outcome is recorded only by the worker whose claim it is, never over a later claim's;
- the payload is never altered: an outcome changes the status, its times and its last error;
- a delivery no longer allowed is cancelled with the reason; a steward may redeliver a dead one,
  or one cancelled because its subscription was suspended, never one the policy refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cursors import encode_cursor
from gateway.events.models import Delivery
from registries.events import ChangeEvent

DUE = ("pending", "failed")
# Why a delivery was cancelled: `<reason>: <detail>`. Only a suspension may be undone by a
# steward's redelivery; the others are the policy's refusal or the subscription's end.
SUSPENDED = "subscription_suspended"
REVOKED = "subscription_revoked"
NOT_APPROVED = "subscription_not_approved"
NOT_ALLOWED = "not_allowed"
DECISION_CHANGED = "decision_changed"
REDELIVERABLE_CANCELLATIONS = (SUSPENDED,)


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds the lease of, for one attempt."""

    delivery_id: int
    subscription_id: str
    event_id: uuid.UUID
    event_seq: int
    payload: bytes
    fields_given: tuple[str, ...]
    fields_masked: tuple[str, ...]
    attempts: int  # this attempt's number: the fencing token, with the worker's name


async def claim(
    session: AsyncSession, *, worker: str, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Up to `limit` due deliveries, leased to `worker` for `lease_seconds`; the caller commits
    at once."""
    due = (
        select(Delivery.delivery_id)
        .where(
            Delivery.status.in_(DUE),
            Delivery.next_attempt_at <= func.now(),
            (Delivery.locked_until.is_(None)) | (Delivery.locked_until < func.now()),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    rows = await session.execute(
        update(Delivery)
        .where(Delivery.delivery_id == due.c.delivery_id)
        .values(
            locked_by=worker,
            locked_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds),
            attempts=Delivery.attempts + 1,
        )
        .returning(
            Delivery.delivery_id,
            Delivery.subscription_id,
            Delivery.event_id,
            Delivery.event_seq,
            Delivery.payload,
            Delivery.fields_given,
            Delivery.fields_masked,
            Delivery.attempts,
        )
    )
    return [
        Claimed(
            delivery_id=row.delivery_id,
            subscription_id=row.subscription_id,
            event_id=row.event_id,
            event_seq=row.event_seq,
            payload=bytes(row.payload),
            fields_given=tuple(row.fields_given),
            fields_masked=tuple(row.fields_masked),
            attempts=row.attempts,
        )
        for row in rows
    ]


def _mine(claimed: Claimed, worker: str) -> Any:
    return and_(
        Delivery.delivery_id == claimed.delivery_id,
        Delivery.locked_by == worker,
        Delivery.attempts == claimed.attempts,
    )


_RELEASED = {"locked_by": None, "locked_until": None}


async def delivered(
    session: AsyncSession, claimed: Claimed, *, worker: str, status: int, latency_ms: int
) -> bool:
    """The attempt was answered 2xx; False if the claim was no longer this worker's."""
    result = await session.execute(
        update(Delivery)
        .where(_mine(claimed, worker))
        .values(
            status="delivered",
            delivered_at=func.now(),
            last_status=status,
            latency_ms=latency_ms,
            last_error=None,
            **_RELEASED,
        )
        .returning(Delivery.delivery_id)
    )
    return result.first() is not None


DELIVERED_MANY = text(
    "UPDATE deliveries AS d SET status = 'delivered', delivered_at = now(), "
    "last_status = u.status, latency_ms = u.latency, last_error = NULL, locked_by = NULL, "
    "locked_until = NULL "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]), CAST(:statuses AS int[]), "
    "CAST(:latencies AS int[])) AS u(id, attempts, status, latency) "
    "WHERE d.delivery_id = u.id AND d.locked_by = :worker AND d.attempts = u.attempts "
    "RETURNING d.delivery_id"
)


async def delivered_many(
    session: AsyncSession, answered: Sequence[tuple[Claimed, int, int]], *, worker: str
) -> set[int]:
    """`delivered` for many (claim, HTTP status, latency in ms) in one statement; the ids
    recorded (the others' claims were no longer this worker's)."""
    rows = await session.execute(
        DELIVERED_MANY,
        {
            "ids": [c.delivery_id for c, _, _ in answered],
            "attempts": [c.attempts for c, _, _ in answered],
            "statuses": [status for _, status, _ in answered],
            "latencies": [latency for _, _, latency in answered],
            "worker": worker,
        },
    )
    return {row[0] for row in rows}


async def failed(
    session: AsyncSession,
    claimed: Claimed,
    *,
    worker: str,
    error: str,
    status: int | None,
    latency_ms: int | None,
    retry_in: float,
    max_attempts: int,
) -> str | None:
    """The attempt failed: `failed`, to be tried again in `retry_in` seconds, or `dead` after
    `max_attempts`. The status it now has; None if the claim was no longer this worker's."""
    outcome = "dead" if claimed.attempts >= max_attempts else "failed"
    result = await session.execute(
        update(Delivery)
        .where(_mine(claimed, worker))
        .values(
            status=outcome,
            next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, retry_in),
            last_error=error[:1000],
            last_status=status,
            latency_ms=latency_ms,
            **_RELEASED,
        )
        .returning(Delivery.delivery_id)
    )
    return outcome if result.first() is not None else None


async def cancel(session: AsyncSession, claimed: Claimed, *, worker: str, reason: str) -> bool:
    """No longer allowed: cancelled with the reason (the payload stays as it was)."""
    result = await session.execute(
        update(Delivery)
        .where(_mine(claimed, worker))
        .values(status="cancelled", cancelled_reason=reason[:1000], **_RELEASED)
        .returning(Delivery.delivery_id)
    )
    return result.first() is not None


async def postpone(
    session: AsyncSession, claimed: Claimed, *, worker: str, error: str, retry_in: float
) -> None:
    """Not attempted (its check could not be made: the policy engine, the database): due again
    in `retry_in` seconds, the attempt uncounted, the status as it was."""
    await session.execute(
        update(Delivery)
        .where(_mine(claimed, worker))
        .values(
            attempts=Delivery.attempts - 1,
            next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, retry_in),
            last_error=error[:1000],
            **_RELEASED,
        )
    )


async def cancel_pending(session: AsyncSession, *, subscription_id: str, reason: str) -> int:
    """Every delivery of the subscription not yet made and not in a worker's hands, cancelled
    (a revocation); one a worker holds is cancelled by that worker's check before its next
    attempt."""
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.subscription_id == subscription_id,
            Delivery.status.in_(DUE),
            (Delivery.locked_until.is_(None)) | (Delivery.locked_until < func.now()),
        )
        .values(status="cancelled", cancelled_reason=reason[:1000], **_RELEASED)
        .returning(Delivery.delivery_id)
    )
    return len(result.all())


async def lag_seconds(session: AsyncSession) -> float:
    """How long the most overdue delivery has been due (0 when none is)."""
    oldest = (
        await session.execute(
            select(func.extract("epoch", func.now() - func.min(Delivery.next_attempt_at))).where(
                Delivery.status.in_(DUE), Delivery.next_attempt_at <= func.now()
            )
        )
    ).scalar_one()
    return max(float(oldest or 0.0), 0.0)


def still_allowed(claimed: Claimed, given: set[str], masked: set[str]) -> str | None:
    """Why the stored payload may not be sent under a decision giving `given` and masking
    `masked` of its subject now (None: it may): a field it gives is now masked or refused, or
    one it masks is now refused."""
    lost = sorted(
        (set(claimed.fields_given) - given) | (set(claimed.fields_masked) - given - masked)
    )
    if not lost:
        return None
    return f"{DECISION_CHANGED}: the decision no longer gives {', '.join(lost)}"


def _canonical(value: Any) -> Any:
    """A JSON value with its lists in a fixed order: related subjects (a household's members)
    may be read in any order, and that changes nothing of what is disclosed."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        return sorted(items, key=lambda item: orjson.dumps(item, option=orjson.OPT_SORT_KEYS))
    return value


def same_payload(stored: bytes, decided: bytes) -> bool:
    """Whether the payload decided now discloses exactly what the stored one does."""
    if stored == decided:
        return True
    return bool(_canonical(orjson.loads(stored)) == _canonical(orjson.loads(decided)))


# --- the delivery log (stewards) ---------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    delivery_id: int
    subscription_id: str
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    last_status: int | None
    latency_ms: int | None
    fields_given: list[str]
    fields_masked: list[str]
    cancelled_reason: str | None
    created_at: datetime
    delivered_at: datetime | None
    in_flight: bool


def _entry(row: Any) -> LogEntry:
    return LogEntry(
        delivery_id=row.delivery_id,
        subscription_id=row.subscription_id,
        event_id=row.event_id,
        event_type=row.type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status in DUE else None,
        last_error=row.last_error,
        last_status=row.last_status,
        latency_ms=row.latency_ms,
        fields_given=list(row.fields_given),
        fields_masked=list(row.fields_masked),
        cancelled_reason=row.cancelled_reason,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        in_flight=bool(row.in_flight),
    )


_LOG_COLUMNS = (
    Delivery.delivery_id,
    Delivery.subscription_id,
    Delivery.event_id,
    ChangeEvent.type,
    Delivery.status,
    Delivery.attempts,
    Delivery.next_attempt_at,
    Delivery.last_error,
    Delivery.last_status,
    Delivery.latency_ms,
    Delivery.fields_given,
    Delivery.fields_masked,
    Delivery.cancelled_reason,
    Delivery.created_at,
    Delivery.delivered_at,
    (Delivery.locked_until > func.now()).label("in_flight"),
)


async def log_page(
    session: AsyncSession,
    *,
    subscription_id: str | None = None,
    agency: str | None = None,
    event_id: uuid.UUID | None = None,
    status: str | None,
    limit: int,
    before: int | None,
) -> tuple[list[LogEntry], str | None]:
    """Deliveries, newest first, `limit` at a time (keyset on the id): of one subscription,
    or of one agency's subscriptions (their ids begin with the agency's), or of one event."""
    query = select(*_LOG_COLUMNS).join(ChangeEvent, ChangeEvent.seq == Delivery.event_seq)
    if subscription_id is not None:
        query = query.where(Delivery.subscription_id == subscription_id)
    if agency is not None:
        query = query.where(Delivery.subscription_id.startswith(f"{agency}/", autoescape=True))
    if event_id is not None:
        query = query.where(Delivery.event_id == event_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    if before is not None:
        query = query.where(Delivery.delivery_id < before)
    rows = (
        await session.execute(query.order_by(Delivery.delivery_id.desc()).limit(limit + 1))
    ).all()
    items = [_entry(row) for row in rows[:limit]]
    more = len(rows) > limit
    return items, encode_cursor(str(items[-1].delivery_id)) if more else None


async def one(
    session: AsyncSession, *, delivery_id: int, subscription_id: str | None = None
) -> LogEntry | None:
    """One delivery (of that subscription, if one is named)."""
    query = (
        select(*_LOG_COLUMNS)
        .join(ChangeEvent, ChangeEvent.seq == Delivery.event_seq)
        .where(Delivery.delivery_id == delivery_id)
    )
    if subscription_id is not None:
        query = query.where(Delivery.subscription_id == subscription_id)
    row = (await session.execute(query)).first()
    return None if row is None else _entry(row)


def redeliverable(entry: LogEntry) -> bool:
    if entry.status == "dead":
        return True
    return entry.status == "cancelled" and (entry.cancelled_reason or "").split(":", 1)[0] in (
        REDELIVERABLE_CANCELLATIONS
    )


async def redeliver(session: AsyncSession, *, delivery_id: int) -> None:
    """Back to `pending`, due now, with a fresh count of attempts (its last error kept)."""
    await session.execute(
        update(Delivery)
        .where(Delivery.delivery_id == delivery_id, Delivery.status.in_(("dead", "cancelled")))
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=func.now(),
            cancelled_reason=None,
            **_RELEASED,
        )
    )
