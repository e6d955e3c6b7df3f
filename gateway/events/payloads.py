"""What one subscriber is sent of one change event: decided by the policy that decides a query,
rendered by the types that render one, encoded once.

`decide_payload` decides, for an event and an approved subscription, the subject's version the
event made (its new version; the last one for a removal) for the subscription's agency and
purpose: a `Guard` (gateway/graph/guard.py) of its own over the agency's agreements (the same
`AgreementCache`) and the subject's consents, read as a query's are, then the fields rendered by
the GraphQL types of gateway/graph/types.py, masks applied by the same `Grant`.

Invariants:
- the decision covers every field the event type reveals (registries/events.py `EVENT_TYPES`)
  and the subject's key (sent in `subject.id`: the subscriber did not send it, so it is a field
  like the others, gateway/subjects.py); unless each is allowed or masked the answer is None and
  the subscriber never receives the event, not even that it happened;
- the subject is decided before its row is read: a refusal reads nothing;
- the payload holds only what was granted, as GraphQL renders it (a masked field masked);
  related subjects a relation field lists (a household's members, an enterprise's
  representatives, a parcel's right holders) are decided on their own with the relation as
  `via`, exactly as in a query, and a field of theirs that is refused is left out;
- a purpose bound to one-stop dossiers (case-bound) reaches no subject by events: no dossier
  binds a subscription;
- `Decided` keeps the decisions' record: what was given of which subject, for the access log
  (`Decided.disclosures`), whoever sends the bytes (the pull feed, the webhook worker).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import strawberry
import structlog
from graphql import (
    DocumentNode,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    execute,
    get_named_type,
    parse,
    validate,
)
from sqlalchemy import select

from gateway.errors import ErrorCode, GatewayError
from gateway.graph.guard import Grant, Guard
from gateway.graph.loaders import Loaders
from gateway.graph.types import SUBJECT_TYPES, Enterprise, Household, Parcel, Resident
from gateway.identity.principal import AGENCY, Principal
from gateway.metrics import GatewayMetrics
from gateway.subjects import SUBJECT_KINDS
from registries.events import EVENT_TYPES, ChangeEvent
from registries.history import fetch_by_keys

if TYPE_CHECKING:
    from gateway.audit.writer import Disclosure
    from gateway.graph.context import RequestDatabase
    from gateway.graph.reference import ReferenceCache
    from gateway.identity.officers import Officer
    from gateway.policy.engine import PolicyEngine
    from gateway.policy.models import Subscription
    from gateway.policy.service import AgreementCache

log = structlog.get_logger(__name__)
T = TypeVar("T")

GRANTED = ("allow", "mask")
# What a payload gives of a related subject a relation field lists: its key and its name, each
# decided with that subject's own agreement (through the relation) and left out when refused.
RELATED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Resident": ("id", "fullName"),
    "Enterprise": ("code", "name"),
    "Household": ("id",),
    "Parcel": ("id",),
}
_ROOT_FIELDS = {name: name[0].lower() + name[1:] for name in SUBJECT_KINDS}
_MAX_NESTING = 6  # value types inside a revealed field (Address.former is 2 deep)
_METRICS = GatewayMetrics()  # decisions outside a process that exports metrics (tests, tools)


@dataclass(frozen=True)
class Decided:
    """An event's payload for one subscription: the exact bytes, the message they encode, and
    the record of what they give (for the access log and the deliveries table)."""

    event_id: uuid.UUID
    event_seq: int
    subscription_id: str
    message: Mapping[str, Any]  # the payload as JSON values (what `payload` encodes)
    payload: bytes  # orjson, encoded once: every delivery of it sends these bytes
    fields_given: tuple[str, ...]  # of the event's subject, as the access log names them
    fields_masked: tuple[str, ...]
    record: Guard = field(repr=False)  # the decisions made and what each subject was given

    def disclosures(
        self,
        *,
        request_id: str,
        channel: str,
        officer: Officer | None = None,
        operation: str | None = None,
        correlation_id: str | None = None,
    ) -> list[Disclosure]:
        """The access-log entries of this payload given to its subscriber: one per subject it
        gives anything of (or refused a related subject's field), naming the event and the
        subscription, and how it left (`channel`: pull, push)."""
        return [
            replace(entry, decision={**entry.decision, **self.log_note(channel)})
            for entry in self.record.disclosures(
                request_id=request_id,
                officer=officer,
                operation=operation,
                correlation_id=correlation_id,
            )
        ]

    def log_note(self, channel: str) -> dict[str, Any]:
        """What the access log adds to each of this payload's entries."""
        return {
            "event": str(self.event_id),
            "subscription": self.subscription_id,
            "channel": channel,
        }


async def decide_payload(
    *,
    event: ChangeEvent,
    subscription: Subscription,
    engine: PolicyEngine,
    agreements: AgreementCache,
    database: RequestDatabase,
    reference: ReferenceCache,
    metrics: GatewayMetrics | None = None,
    principal: Principal | None = None,
    policy_version: int | None = None,
) -> Decided | None:
    """The payload `subscription` is sent of `event`, or None when it may not receive it (a
    subscription not approved or not for this type, a field the type reveals or the subject's
    key refused, a subject whose version is not found). `database` reads the policy data, the
    consents and the registries (the primary: a replica may not have the event's version yet);
    `principal` is the agency's caller when a request pulls (default: the agency itself);
    `policy_version` the version a request was admitted on (default: the one in force).
    Raises what a query would fail with: the policy engine or its data unavailable
    (GatewayError UNAVAILABLE), the database failing."""
    (decided,) = await decide_payloads(
        events=[event],
        subscription=subscription,
        engine=engine,
        agreements=agreements,
        database=database,
        reference=reference,
        metrics=metrics,
        principal=principal,
        policy_version=policy_version,
    )
    return decided


async def decide_payloads(
    *,
    events: Sequence[ChangeEvent],
    subscription: Subscription,
    engine: PolicyEngine,
    agreements: AgreementCache,
    database: RequestDatabase,
    reference: ReferenceCache,
    metrics: GatewayMetrics | None = None,
    principal: Principal | None = None,
    policy_version: int | None = None,
) -> list[Decided | None]:
    """`decide_payload` of each of `events` for one subscription, in their order, decided
    together: the subjects of one event type in one policy call (consents read once), their
    versions in one read; each payload then rendered, and recorded, by a guard of its own, so
    that each `Decided` logs exactly what its own bytes give."""
    caller = principal or Principal(
        agency=subscription.agency,
        subject=f"subscription:{subscription.subscription_id}",
        roles=frozenset({AGENCY}),
        token_id=None,
        expires_at=0,
    )
    if caller.agency != subscription.agency:
        raise ValueError(f"{caller.agency} may not pull {subscription.subscription_id}'s events")
    answers: list[Decided | None] = [None] * len(events)
    receivable = [(n, e) for n, e in enumerate(events) if _receivable(e, subscription)]
    if not receivable:
        return answers
    async with database.session() as session:
        entry = await agreements.entry(
            session=session, agency=subscription.agency, version=policy_version
        )

    def guard() -> Guard:
        made = Guard(
            principal=caller,
            purpose=subscription.purpose,
            engine=engine,
            agreements=agreements,
            database=database,
            metrics=metrics or _METRICS,
        )
        made.policy_version = entry.version
        if subscription.purpose in entry.case_bound:
            made.dossier = {}  # a dossier naming no subject: every subject refused at the root
        return made

    # Every subject decided before any row is read: one call per event type's field set
    deciding = guard()
    grants: dict[tuple[str, str], Grant] = {}
    by_type: dict[str, list[str]] = {}
    for _, event in receivable:
        by_type.setdefault(event.type, []).append(event.subject_id)
    for event_type, subjects in by_type.items():
        kind, fields = EVENT_TYPES[event_type], _decided_fields(event_type)
        unique = list(dict.fromkeys(subjects))
        for subject_id, grant in zip(
            unique, await deciding.decide_many_now(kind.subject_type, unique, fields), strict=True
        ):
            grants[event_type, subject_id] = grant
    allowed = [
        (n, event)
        for n, event in receivable
        if all(
            grants[event.type, event.subject_id].decision.fields.get(name) in GRANTED
            for name in _decided_fields(event.type)
        )
    ]
    records = await _versions(database, [event for _, event in allowed])
    for n, event in allowed:
        record = records.get(event.seq)
        if record is None:
            log.warning("change event without its version", event_id=str(event.event_id))
            continue
        answers[n] = await _payload(
            event,
            record,
            grants[event.type, event.subject_id],
            _Rendering(guard(), database, _Reference(reference)),
            subscription.subscription_id,
        )
    return answers


def _receivable(event: ChangeEvent, subscription: Subscription) -> bool:
    """Whether the subscription may receive events of this one's type at all."""
    kind = EVENT_TYPES.get(event.type)
    return (
        kind is not None
        and kind.subject_type == event.subject_type
        and kind.subject_type in SUBJECT_KINDS
        and subscription.status == "approved"
        and event.type in subscription.event_types
    )


@cache
def _decided_fields(event_type: str) -> tuple[str, ...]:
    """What an event type's payload is decided on: the subject's key and what the type reveals."""
    kind = EVENT_TYPES[event_type]
    return tuple(dict.fromkeys((SUBJECT_KINDS[kind.subject_type].key_field, *kind.reveals)))


async def _payload(
    event: ChangeEvent, record: Any, decided: Grant, rendering: _Rendering, subscription_id: str
) -> Decided | None:
    """One event's payload, rendered through its subject's decision taken by the rendering's
    guard, whose record is this payload's log (and no other's)."""
    kind = EVENT_TYPES[event.type]
    subject_kind = SUBJECT_KINDS[kind.subject_type]
    own = rendering.guard
    grant = own.take(decided, _decided_fields(event.type))
    subject = SUBJECT_TYPES[kind.subject_type](record=record, grant=grant, as_of=event.effective_at)
    data = await _render(event.type, subject, rendering)
    if data is None:
        return None
    key = data[subject_kind.key_field]
    if subject_kind.key_field not in kind.reveals:
        del data[subject_kind.key_field]
    message = {
        "id": str(event.event_id),
        "type": event.type,
        "subject": {"type": event.subject_type, "id": key},
        "sequence": event.subject_sequence,
        "effectiveAt": instant(event.effective_at),
        "recordedAt": instant(event.recorded_at),
        "data": data,
    }
    given = own.entry(kind.subject_type, event.subject_id)
    return Decided(
        event_id=event.event_id,
        event_seq=event.seq,
        subscription_id=subscription_id,
        message=message,
        payload=orjson.dumps(message),
        fields_given=tuple(sorted(given.given)),
        fields_masked=tuple(sorted(given.masked)),
        record=own,
    )


def instant(value: datetime) -> str:
    """An instant as the payload writes it: ISO 8601 in UTC, as GraphQL's DateTime renders."""
    return value.astimezone(UTC).isoformat()


async def _versions(database: RequestDatabase, events: Sequence[ChangeEvent]) -> dict[int, Any]:
    """The subject's row each event made, by the event's `seq`: the version it opened (for a
    removal, the last one it had) when the event is of the subject's own table, read together
    per table; otherwise (a member's household, a representative's enterprise, a right's
    parcel) the subject's version in force when the change took effect. An event with none is
    left out."""
    own: dict[str, list[tuple[ChangeEvent, int]]] = {}
    other: list[ChangeEvent] = []
    for event in events:
        kind = EVENT_TYPES[event.type]
        if kind.table == SUBJECT_KINDS[kind.subject_type].model.__tablename__:
            version = event.new_version_id or event.old_version_id
            if version is not None:
                own.setdefault(kind.subject_type, []).append((event, version))
        else:
            other.append(event)
    found: dict[int, Any] = {}
    if not own and not other:
        return found
    async with database.session() as session:
        for subject_type, wanted in own.items():
            subject = SUBJECT_KINDS[subject_type]
            model = subject.model
            rows = (
                await session.execute(
                    select(model).where(model.version_id.in_({v for _, v in wanted}))
                )
            ).scalars()
            by_version = {row.version_id: row for row in rows}
            for event, version in wanted:
                row = by_version.get(version)
                if row is not None and getattr(row, subject.key_attribute) == event.subject_id:
                    found[event.seq] = row
        for event in other:
            subject = SUBJECT_KINDS[EVENT_TYPES[event.type].subject_type]
            (row,) = await fetch_by_keys(
                session=session,
                model=subject.model,
                key=getattr(subject.model, subject.key_attribute),
                keys=[event.subject_id],
                as_of=event.effective_at,
            )
            if row is not None:
                found[event.seq] = row
    return found


@dataclass
class _Reference:
    reference: ReferenceCache


@dataclass
class _Rendering:
    """What the subject types' resolvers read of a request's context
    (gateway/graph/context.py `GatewayContext`): the guard, the loaders, the reference data."""

    guard: Guard
    database: RequestDatabase
    services: _Reference
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.database)


@strawberry.type
class _EventSubject:
    """The root of the payloads' schema: the event's subject, already decided, as a field."""

    subject: strawberry.Private[Any]

    @strawberry.field
    def resident(self) -> Resident | None:
        return self._of(Resident)

    @strawberry.field
    def household(self) -> Household | None:
        return self._of(Household)

    @strawberry.field
    def enterprise(self) -> Enterprise | None:
        return self._of(Enterprise)

    @strawberry.field
    def parcel(self) -> Parcel | None:
        return self._of(Parcel)

    def _of(self, cls: type[T]) -> T | None:
        return self.subject if isinstance(self.subject, cls) else None


@cache
def _schema() -> strawberry.Schema:
    """The subject types of the gateway's schema under a root that hands the event's subject."""
    return strawberry.Schema(query=_EventSubject)


@cache
def _document(event_type: str) -> DocumentNode:
    """`payload_document` parsed and validated once: each payload then only executes it."""
    document = parse(payload_document(event_type))
    errors = validate(_schema()._schema, document)
    if errors:
        raise ValueError(f"{event_type}'s payload document is not valid: {errors[0].message}")
    return document


@cache
def payload_document(event_type: str) -> str:
    """The query rendering an event type's payload: the subject's key and every field the type
    reveals, each value type whole, related subjects by RELATED_FIELDS."""
    kind = EVENT_TYPES[event_type]
    schema = _schema()._schema
    owner = schema.type_map[kind.subject_type]
    assert isinstance(owner, GraphQLObjectType)  # noqa: S101 - a subject type is an object
    key = SUBJECT_KINDS[kind.subject_type].key_field
    selected = " ".join(
        name + _below(schema, owner.fields[name].type, 0)
        for name in dict.fromkeys((key, *kind.reveals))
    )
    return f"{{ {_ROOT_FIELDS[kind.subject_type]} {{ {selected} }} }}"


def _below(schema: GraphQLSchema, output: GraphQLOutputType, depth: int) -> str:
    """The selection under a field of this type ("" for a scalar)."""
    named: GraphQLNamedType = get_named_type(output)
    if isinstance(named, GraphQLUnionType):
        return (
            " { "
            + " ".join(
                f"... on {member.name}{_below(schema, member, depth + 1)}" for member in named.types
            )
            + " }"
        )
    if not isinstance(named, GraphQLObjectType):
        return ""
    if named.name in SUBJECT_KINDS:
        return " { " + " ".join(RELATED_FIELDS[named.name]) + " }"
    if depth >= _MAX_NESTING:
        raise ValueError(f"{named.name} nests too deep for a payload")
    names = [
        name + _below(schema, definition.type, depth + 1)
        for name, definition in named.fields.items()
        if not any(isinstance(a.type, GraphQLNonNull) for a in definition.args.values())
    ]
    return " { " + " ".join(names) + " }"


async def _render(event_type: str, subject: Any, rendering: _Rendering) -> dict[str, Any] | None:
    """The subject's revealed fields as the GraphQL types render them through its grant; None
    when one of them is refused as it is written (a mask this gateway does not know)."""
    result = execute(
        _schema()._schema,
        _document(event_type),
        root_value=_EventSubject(subject=subject),
        context_value=rendering,
    )
    if isawaitable(result):
        result = await result
    root = _ROOT_FIELDS[EVENT_TYPES[event_type].subject_type]
    data = (result.data or {}).get(root)
    refused: list[Sequence[str | int]] = []
    for error in result.errors or []:
        original = error.original_error
        if not (isinstance(original, GatewayError) and original.code is ErrorCode.FORBIDDEN):
            raise original or error  # the policy, the database: as a query would fail
        refused.append(error.path or ())
    if data is None or any(len(path) <= 2 for path in refused):
        return None
    for path in sorted(refused, key=len, reverse=True):
        _leave_out(data, path[1:])
    return dict(data)


def _leave_out(data: Any, path: Sequence[str | int]) -> None:
    """Drop the value at `path` (a related subject's refused field) from the rendered answer."""
    *parents, last = path
    for step in parents:
        data = data[step]
        if data is None:
            return
    if isinstance(data, dict):
        data.pop(last, None)
