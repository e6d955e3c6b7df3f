"""Fan-out: new change events become deliveries, one per approved push subscription of the
event's type whose payload decision allows it.

Invariants:
- events are taken in feed order `(txid, seq)` and only below the feed's horizon (every
  transaction of this database with a smaller id has ended: gateway/events/feed.py), so an
  event committed late never falls behind a subscription's cursor: nothing is missed;
- a subscription's cursor and the deliveries made for the events it passes move in one
  transaction, and UNIQUE (subscription_id, event_id) refuses a second delivery of an event:
  nothing is doubled, whichever worker does it and however often it is interrupted;
- a subscription's subjects are split into LANES lanes, each with its own cursor: one lane is
  fanned out by one worker at a time (its cursor row is locked, SKIP LOCKED: the others take
  other lanes), so several workers share even one subscription;
- the payload is decided here once, by the caller's decider (gateway/events/payloads.py: the
  same policy decision as a query), and stored as the bytes every attempt sends; an event the
  decision refuses makes no delivery;
- a suspended or rejected subscription's cursor stays where it is: re-approved, it is brought up
  to date. A subscription is first given a cursor at the end of the feed when approved, so it
  hears of changes committed after that.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy import (
    ColumnElement,
    Float,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from gateway.audit.writer import Disclosure
from gateway.events.deliveries import Claimed
from gateway.events.models import Delivery, SubscriptionCursor
from gateway.policy.models import Subscription
from registries.events import HORIZON, ChangeEvent
from registries.history import is_current

log = structlog.get_logger(__name__)


SNAPSHOT: ColumnElement[str] = literal_column("pg_current_snapshot()::text")
# A subscription's subjects are split into this many lanes by a hash of their key, each with a
# cursor of its own: as many workers may fan one subscription out at once, and a subject's
# events stay in one lane, in feed order (migration 0016 made the existing cursors' lanes)
LANES = 4


def lane_of(subject_id: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[int]:
    """A subject's lane: two bits of PostgreSQL's hash of its key (stable across processes)."""
    return func.hashtext(subject_id).op("&")(LANES - 1)


# An event its subscription's approval did not see committed: sent (the cursor's opened_snapshot)
UNSEEN_AT_APPROVAL = text(
    "NOT pg_visible_in_snapshot((change_events.txid::text)::xid8, CAST(:opened AS pg_snapshot))"
)


class Decided(Protocol):
    """What a payload decision gives (gateway/events/payloads.py `Decided`)."""

    @property
    def payload(self) -> bytes: ...

    @property
    def fields_given(self) -> Sequence[str]: ...

    @property
    def fields_masked(self) -> Sequence[str]: ...

    def disclosures(
        self, *, request_id: str, channel: str, operation: str | None = None
    ) -> list[Disclosure]: ...


# The payloads of several events for one subscription, in their order (None: not sent)
Decide = Callable[[Sequence[ChangeEvent], Subscription], Awaitable[Sequence[Decided | None]]]


class Decider(Protocol):
    """Makes payload decisions (gateway/events/decider.py `PayloadDecider`)."""

    def reading(self) -> AbstractAsyncContextManager[Decide]:
        """Decisions through one database session, for the block's duration."""
        ...


def _pushed() -> list[ColumnElement[bool]]:
    """The subscriptions fan-out serves: approved, with an endpoint to push to."""
    return [
        is_current(Subscription),
        Subscription.status == "approved",
        Subscription.endpoint.is_not(None),
    ]


def _end_of_feed(below_horizon: int | None = None) -> tuple[Any, Any]:
    """The feed position of the last event below `below_horizon` (the statement's own horizon
    when None), (0, 0) when there is none."""
    below = HORIZON if below_horizon is None else literal(below_horizon)
    last = (
        select(ChangeEvent.txid, ChangeEvent.seq)
        .where(ChangeEvent.txid < below)
        .order_by(ChangeEvent.txid.desc(), ChangeEvent.seq.desc())
        .limit(1)
        .subquery()
    )
    return (
        func.coalesce(select(last.c.txid).scalar_subquery(), 0),
        func.coalesce(select(last.c.seq).scalar_subquery(), 0),
    )


async def open_cursor(session: AsyncSession, subscription_id: str) -> None:
    """The subscription's cursors (one per lane) at the end of the feed, with this transaction's
    snapshot: it is approved (gateway/admin/subscriptions/service.py), first or again after a
    suspension, and hears of what is committed from now on, as the feed's reader does
    (docs/events.md)."""
    txid, seq = _end_of_feed()
    lanes = func.generate_series(0, LANES - 1).table_valued("lane").render_derived()
    statement = insert(SubscriptionCursor).from_select(
        ["subscription_id", "lane", "after_txid", "after_seq", "opened_snapshot"],
        select(
            literal(subscription_id).label("subscription_id"), lanes.c.lane, txid, seq, SNAPSHOT
        ),
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["subscription_id", "lane"],
            set_={
                "after_txid": statement.excluded.after_txid,
                "after_seq": statement.excluded.after_seq,
                "opened_snapshot": statement.excluded.opened_snapshot,
                "updated_at": func.now(),
            },
        )
    )


async def open_missing_cursors(session: AsyncSession) -> int:
    """Cursors at the end of the feed for approved push subscriptions that have none (approved
    by a path other than the admin API)."""
    txid, seq = _end_of_feed()
    lanes = func.generate_series(0, LANES - 1).table_valued("lane").render_derived()
    missing = (
        select(Subscription.subscription_id, lanes.c.lane, txid, seq, SNAPSHOT)
        .select_from(Subscription)
        .join(lanes, true())  # every lane of each
        .where(*_pushed())
        .where(
            ~select(SubscriptionCursor.subscription_id)
            .where(SubscriptionCursor.subscription_id == Subscription.subscription_id)
            .exists()
        )
    )
    result = await session.execute(
        insert(SubscriptionCursor)
        .from_select(
            ["subscription_id", "lane", "after_txid", "after_seq", "opened_snapshot"], missing
        )
        .on_conflict_do_nothing(index_elements=["subscription_id", "lane"])
        .returning(SubscriptionCursor.subscription_id)
    )
    return len(result.all())


@dataclass(frozen=True)
class Lease:
    """Deliveries made leased to the worker fanning out, as a claim would lease them (the
    attempt counted), up to `most` in a pass: it sends them at once, the decision just made
    serving as their first attempt's check (gateway/events/worker.py)."""

    worker: str
    seconds: float
    most: int


@dataclass(frozen=True)
class Made:
    """A delivery made leased to this worker, with what decided it."""

    claimed: Claimed
    subscription: Subscription
    event: ChangeEvent
    decided: Decided


@dataclass
class FannedOut:
    subscriptions: int = 0
    events: int = 0  # matching events examined
    deliveries: int = 0  # deliveries made
    refused: int = 0  # events whose decision gives the subscriber nothing
    failed: int = 0  # lanes whose batch failed (retried on the next pass)
    leased: list[Made] = field(default_factory=list)  # made leased to the caller (`Lease`)


async def _claim_subscription(
    session: AsyncSession, horizon: int, skip: Collection[tuple[str, int]]
) -> tuple[Subscription, SubscriptionCursor] | None:
    """A subscription's lane with events past its cursor, its cursor locked for this
    transaction."""
    behind = (
        select(ChangeEvent.seq)
        .where(
            tuple_(ChangeEvent.txid, ChangeEvent.seq)
            > tuple_(SubscriptionCursor.after_txid, SubscriptionCursor.after_seq),
            ChangeEvent.txid < horizon,
        )
        .exists()
    )
    query = (
        select(SubscriptionCursor)
        .join(Subscription, Subscription.subscription_id == SubscriptionCursor.subscription_id)
        .where(*_pushed(), behind)
        .order_by(SubscriptionCursor.updated_at)
        .limit(1)
        .with_for_update(of=SubscriptionCursor, skip_locked=True)
    )
    if skip:
        query = query.where(
            tuple_(SubscriptionCursor.subscription_id, SubscriptionCursor.lane).not_in(list(skip))
        )
    cursor = (await session.execute(query)).scalar_one_or_none()
    if cursor is None:
        return None
    subscription = (
        await session.execute(
            select(Subscription).where(
                Subscription.subscription_id == cursor.subscription_id, is_current(Subscription)
            )
        )
    ).scalar_one()
    return subscription, cursor


# One statement, compiled once, however many deliveries a batch makes (their rows its
# parameters): a lease runs from the database's clock, as a claim's does; none is NULL
_MAKE_DELIVERIES = (
    insert(Delivery)
    .values(
        locked_until=func.now()
        + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("lease_seconds", type_=Float))
    )
    .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
    .returning(Delivery.delivery_id, Delivery.event_id, Delivery.attempts)
)


async def _fan_out_one(
    session: AsyncSession,
    *,
    subscription: Subscription,
    cursor: SubscriptionCursor,
    horizon: int,
    decide: Decide,
    limit: int,
    lease: Lease | None,
    done: FannedOut,
) -> list[Made]:
    """The subscription's next events fanned out; the deliveries leased to the caller (theirs
    once the transaction commits)."""
    after = tuple_(cursor.after_txid, cursor.after_seq)
    events = list(
        (
            await session.execute(
                select(ChangeEvent)
                .where(
                    tuple_(ChangeEvent.txid, ChangeEvent.seq) > after,
                    ChangeEvent.txid < horizon,
                    ChangeEvent.type.in_(list(subscription.event_types)),
                    lane_of(ChangeEvent.subject_id) == cursor.lane,
                    UNSEEN_AT_APPROVAL.bindparams(opened=cursor.opened_snapshot),
                )
                .order_by(ChangeEvent.txid, ChangeEvent.seq)
                .limit(limit)
            )
        ).scalars()
    )
    rows = []
    decisions: dict[uuid.UUID, tuple[ChangeEvent, Decided]] = {}
    leased: list[Made] = []
    for event, decided in zip(events, await decide(events, subscription), strict=True):
        if decided is None:
            done.refused += 1
            continue
        held = lease is not None and len(decisions) < lease.most - len(done.leased)
        rows.append(
            {
                "subscription_id": subscription.subscription_id,
                "event_id": event.event_id,
                "event_seq": event.seq,
                "payload": decided.payload,
                "fields_given": sorted(decided.fields_given),
                "fields_masked": sorted(decided.fields_masked),
                "locked_by": lease.worker if lease is not None and held else None,
                "lease_seconds": lease.seconds if lease is not None and held else None,
                "attempts": 1 if held else 0,
            }
        )
        if held:
            decisions[event.event_id] = (event, decided)
    if rows:
        made = (await session.execute(_MAKE_DELIVERIES, rows)).all()
        done.deliveries += len(made)
        for delivery_id, event_id, attempts in made:
            if event_id not in decisions:
                continue
            event, decided = decisions[event_id]
            claimed = Claimed(
                delivery_id=delivery_id,
                subscription_id=subscription.subscription_id,
                event_id=event_id,
                event_seq=event.seq,
                payload=decided.payload,
                fields_given=tuple(sorted(decided.fields_given)),
                fields_masked=tuple(sorted(decided.fields_masked)),
                attempts=attempts,
            )
            leased.append(Made(claimed, subscription, event, decided))
    done.events += len(events)
    if len(events) == limit:  # more may follow: resume after the last one taken
        position: tuple[Any, Any] = (events[-1].txid, events[-1].seq)
    else:  # every matching event below this horizon is taken: pass the others below it too
        position = _end_of_feed(horizon)
    await session.execute(
        update(SubscriptionCursor)
        .where(
            SubscriptionCursor.subscription_id == subscription.subscription_id,
            SubscriptionCursor.lane == cursor.lane,
        )
        .values(after_txid=position[0], after_seq=position[1], updated_at=func.now())
    )
    return leased


async def fan_out(
    sessions: async_sessionmaker[AsyncSession],
    *,
    decider: Decider,
    limit: int = 100,
    max_subscriptions: int = 100,
    progress: Callable[[], None] | None = None,
    lease: Lease | None = None,
) -> FannedOut:
    """One pass: up to `max_subscriptions` subscriptions, each in its own transaction, up to
    `limit` events each. A subscription whose batch fails (the policy engine down) is left as
    it was, for the next pass. `progress` is called after each subscription's batch; with
    `lease`, up to `lease.most` of the deliveries made are leased to its worker (`done.leased`,
    once committed), and the pass takes no more events than it has leases left: what it
    decides, its worker sends on that decision."""
    done = FannedOut()
    async with sessions.begin() as session:
        await open_missing_cursors(session)
    failed: set[tuple[str, int]] = set()
    for _ in range(max_subscriptions):
        if lease is not None and len(done.leased) >= lease.most:
            break
        claimed: tuple[Subscription, SubscriptionCursor] | None = None
        async with sessions() as session, decider.reading() as decide:
            try:
                async with session.begin():
                    below = (await session.execute(select(HORIZON))).scalar_one()
                    claimed = await _claim_subscription(session, below, failed)
                    if claimed is None:
                        break
                    subscription, cursor = claimed
                    leased = await _fan_out_one(
                        session,
                        subscription=subscription,
                        cursor=cursor,
                        horizon=below,
                        decide=decide,
                        limit=limit if lease is None else min(limit, lease.most - len(done.leased)),
                        lease=lease,
                        done=done,
                    )
                    done.subscriptions += 1
                done.leased.extend(leased)  # committed: the leases hold
                if progress is not None:
                    progress()
            except Exception as error:  # one subscription's failure must not stop the others
                if claimed is None:
                    raise
                failed.add((claimed[0].subscription_id, claimed[1].lane))
                done.failed += 1
                log.warning(
                    "fan-out failed; the subscription's cursor stays, retried next pass",
                    subscription=claimed[0].subscription_id,
                    lane=claimed[1].lane,
                    error=f"{type(error).__name__}: {error}",
                )
    return done
