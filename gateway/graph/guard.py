"""Field-level enforcement: one policy decision per subject, applied field by field, and the
access log's record of what each answer actually gave.

A subject (a resident, a household, an enterprise, a parcel; gateway.subjects) is decided by key
*before* its registry row is read: one decision per subject and path (`via`) over the fields
asked of it (`Guard.grants`), through a per-request DataLoader (or, from a compiled plan,
`decide_many_now`), so the subjects of one level (100 residents, their households) are decided
together. A subject is visible when some field of its type is allowed at that path; one that is
not is refused whole, with the same error whatever the subject, its type, or whether it exists —
the decision never reads the row.

Fields declared with `guarded()` then give their value, a masked value, or `null` with a FORBIDDEN
error: the declaration, not the resolver, does the check. The one value given without a decision
is the key the caller sent at the root.

The access log is computed from the answer, here and nowhere else: `Grant.give` records the field
as given (or masked) when it writes the value, a refusal records it as denied, and every lookup by
key records the subject even when nothing of it was given (refused, or absent: an attempt). Both
executors (the generic one and the compiled plans) enforce through `Grant`, so both log alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from strawberry.dataloader import DataLoader
from strawberry.extensions import FieldExtension

from gateway.audit.writer import Disclosure
from gateway.errors import ErrorCode, GatewayError, forbidden, unavailable
from gateway.graph.masking import UnknownMask, apply_mask
from gateway.policy.engine import Decision, DecisionRequest, PolicyEngine, PolicyUnavailable
from gateway.policy.service import consents_of
from gateway.subjects import CONSENTING, SUBJECT_KINDS

if TYPE_CHECKING:
    from strawberry.types import Info

    from gateway.graph.context import RequestDatabase
    from gateway.identity.officers import Officer
    from gateway.identity.principal import Principal
    from gateway.metrics import GatewayMetrics
    from gateway.policy.service import AgreementCache

log = structlog.get_logger(__name__)

# A subject refused whole says nothing of the subject: not its type, not whether it exists, not
# which agreement or consent is missing (that is for stewards' explain).
SUBJECT_REASON = "no agreement in force or consent covers this subject for this purpose"

# The access log's outcomes of a subject in one request.
DISCLOSED, REFUSED, ABSENT = "disclosed", "refused", "absent"


def subject_refused(field_name: str) -> GatewayError:
    """The refusal of a subject the caller may not see (or that does not exist for it)."""
    return forbidden(field_name, SUBJECT_REASON)


@dataclass
class _Disclosed:
    """What one request's answer gave and refused of one subject."""

    given: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    legal_basis: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)
    refused: bool = False
    looked_up: bool = False  # named by key at the root: logged whatever the answer holds
    absent: bool = False

    @property
    def outcome(self) -> str:
        if self.given or self.masked:
            return DISCLOSED
        return ABSENT if self.absent else REFUSED if self.refused or self.denied else DISCLOSED


@dataclass(frozen=True)
class Grant:
    """A subject's decision, as the fields of its GraphQL type read it, and its log entry."""

    type: str
    subject: str
    decision: Decision
    entry: _Disclosed
    root: bool = False  # reached by the key the caller sent

    @property
    def visible(self) -> bool:
        return self.decision.allow

    def is_sent_key(self, field_name: str) -> bool:
        return self.root and field_name == SUBJECT_KINDS[self.type].key_field

    def admit(self, field_name: str) -> str:
        """The field's outcome, "allow" or "mask"; FORBIDDEN (recorded as denied) otherwise."""
        if self.is_sent_key(field_name) and self.visible:
            return "allow"
        outcome = self.decision.fields.get(field_name, "deny")
        if outcome in ("allow", "mask"):
            return outcome
        reason = self.decision.reasons.get(field_name, "not allowed for this purpose")
        self.deny(field_name, reason)
        raise forbidden(f"{self.type}.{field_name}", reason)

    def give(self, field_name: str, outcome: str, value: Any) -> Any:
        """The value as it leaves (masked if so decided), recorded as given or masked."""
        if outcome == "allow":
            self.entry.given.add(field_name)
            if not self.is_sent_key(field_name):
                self.entry.legal_basis.update(self.decision.legal_basis)
            return value
        try:
            masked = apply_mask(self.decision.masks[field_name], value)
        except UnknownMask:
            log.warning("unknown mask kind", field=field_name, type=self.type)
            self.deny(field_name, "the agreement's mask is unknown")
            raise forbidden(
                f"{self.type}.{field_name}", "the agreement's mask is unknown"
            ) from None
        self.entry.masked.add(field_name)
        self.entry.legal_basis.update(self.decision.legal_basis)
        return masked

    def deny(self, field_name: str, reason: str) -> None:
        """A field of this subject answered with a refusal."""
        self.entry.denied.add(field_name)
        self.entry.reasons[field_name] = reason

    def check_subject(self, field_name: str, asked: Callable[[], Iterable[str]]) -> None:
        """A subject with no field allowed at all is refused whole, at the field reaching it;
        every field asked on it (`asked`, only computed then) is recorded as denied."""
        if not self.visible:
            self.entry.refused = True
            for name in asked():
                self.deny(name, SUBJECT_REASON)
            raise subject_refused(field_name)


def _is_refusal(error: BaseException) -> bool:
    return isinstance(error, GatewayError) and error.code is ErrorCode.FORBIDDEN


class Guarded(FieldExtension):
    """Declares a field of a subject type as policy-controlled: the parent's grant decides, and
    what the field then writes (a value, or a refusal met below it) is what the log records."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        grant: Grant = source.grant
        outcome = grant.admit(info.field_name)  # refused before anything is resolved
        try:
            value = next_(source, info, **kwargs)
        except GatewayError as error:
            if _is_refusal(error):
                grant.deny(info.field_name, SUBJECT_REASON)
            raise
        return grant.give(info.field_name, outcome, value)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        grant: Grant = source.grant
        outcome = grant.admit(info.field_name)
        try:
            value = await next_(source, info, **kwargs)
        except GatewayError as error:
            if _is_refusal(error):
                grant.deny(info.field_name, SUBJECT_REASON)
            raise
        return grant.give(info.field_name, outcome, value)


class GivenFlags(Guarded):
    """A field of flags about the subject's other fields (`Resident.disputedFields`): governed
    by those fields' own outcomes, not decided by its name. It names a field only if this
    answer gave that field's value (clear or masked), so a caller refused a field learns
    nothing of its flag. Its resolver runs after the sibling values (an async field is
    resolved after the synchronous ones; a compiled plan lists it last)."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        return given_only(source.grant, next_(source, info, **kwargs))

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        return given_only(source.grant, await next_(source, info, **kwargs))


def given_only(grant: Grant, fields: Iterable[str]) -> list[str]:
    """The fields among `fields` whose value this request's answer gave of the subject."""
    given = grant.entry.given | grant.entry.masked
    return sorted(name for name in fields if name in given)


DecisionKey = tuple[str, str, frozenset[str], str | None]


class Guard:
    def __init__(
        self,
        *,
        principal: Principal,
        purpose: str | None,
        engine: PolicyEngine,
        agreements: AgreementCache,
        database: RequestDatabase,
        metrics: GatewayMetrics,
    ) -> None:
        self.principal = principal
        self.purpose = purpose
        # The subjects (by type) of the dossier the request serves; None: it names none
        self.dossier: Mapping[str, tuple[str, ...]] | None = None
        self._engine = engine
        self._agreements = agreements
        self._database = database
        self._metrics = metrics
        self._loader: DataLoader[DecisionKey, Grant] | None = None  # made on first use
        self._granted: dict[DecisionKey, Grant] = {}  # every decision this request made
        self._disclosed: dict[tuple[str, str], _Disclosed] = {}
        self._reads: list[dict[str, Any]] = []  # oversight and self reads (record_read)
        # One request decides on one snapshot of the agreements: each type's are fetched once,
        # not again on every level of the answer
        self._scoped: dict[str, list[dict[str, Any]]] = {}
        # The policy version counter, when a compiled plan read it with the request's subjects
        self.policy_version: int | None = None
        # Other guards' records logged with this request's (`adopt`), each with its note
        self._adopted: list[tuple[Guard, dict[str, Any]]] = []

    @property
    def loader(self) -> DataLoader[DecisionKey, Grant]:
        if self._loader is None:
            self._loader = DataLoader(self._decide_batch)
        return self._loader

    def entry(self, type_name: str, subject: str) -> _Disclosed:
        return self._disclosed.setdefault((type_name, subject), _Disclosed())

    def looked_up(self, type_name: str, subject: str) -> None:
        """A lookup by key: logged whatever it finds."""
        self.entry(type_name, subject).looked_up = True

    def absent(self, type_name: str, subject: str) -> None:
        """A lookup by key, by a caller who may see the subject, of a key the registry does not
        hold: logged as an attempt, never shown to a citizen."""
        entry = self.entry(type_name, subject)
        entry.looked_up = entry.absent = True

    async def decide(
        self, type_name: str, subject: str, fields: Iterable[str], via: str | None = None
    ) -> Grant:
        return await self.loader.load((type_name, subject, frozenset(fields), via))

    async def decide_many_now(
        self, type_name: str, subjects: Sequence[str], fields: Iterable[str], via: str | None = None
    ) -> list[Grant]:
        """`decide_many` for a caller that knows nobody else decides at this moment (a compiled
        plan walking its subjects level by level): no wait for a batch to gather. The grants are
        kept under the same keys, so a later `decide` gets them back without deciding again."""
        wanted = frozenset(fields)
        return await self._decide_batch([(type_name, subject, wanted, via) for subject in subjects])

    def take(self, grant: Grant, fields: Iterable[str], via: str | None = None) -> Grant:
        """`grant`, decided by another guard of this principal and purpose at this policy
        version (a batch of change events decided at once, gateway/events/payloads.py), as a
        decision of this guard's own: what it gives is recorded here, in this guard's log."""
        key = (grant.type, grant.subject, frozenset(fields), via)
        mine = Grant(
            grant.type, grant.subject, grant.decision, self.entry(grant.type, grant.subject)
        )
        self._granted[key] = mine
        return mine

    async def decide_many(
        self, type_name: str, subjects: Sequence[str], fields: Iterable[str], via: str | None = None
    ) -> list[Grant]:
        wanted = frozenset(fields)
        return list(await self.loader.load_many([(type_name, s, wanted, via) for s in subjects]))

    async def grants(
        self,
        type_name: str,
        subjects: Sequence[str],
        asked: frozenset[str],
        every: frozenset[str],
        via: str | None,
        *,
        now: bool = False,
    ) -> list[Grant]:
        """Grants deciding the fields `asked` of each subject (what its fields read); a subject
        with none of them allowed is decided again over `every` field of its type, to tell
        whether it is visible at all — the refusal of a subject must not depend on what was
        asked of it. A field's outcome does not depend on the others decided with it, so the
        narrower decision enforces exactly as the wider one would, at a fraction of the
        policy's cost on the path that matters (every asked field allowed). `now`: without
        waiting for a batch to gather (a compiled plan)."""
        decide = self.decide_many_now if now else self.decide_many
        first = await decide(type_name, subjects, asked or every, via)
        pairs = list(zip(subjects, first, strict=True))
        again = list(dict.fromkeys(s for s, g in pairs if not g.visible))
        if not again or not asked or asked == every:
            return first
        wider = dict(zip(again, await decide(type_name, again, every, via), strict=True))
        return [g if g.visible else wider[s] for s, g in pairs]

    async def may_see_any(self, type_name: str, fields: Iterable[str], via: str | None) -> bool:
        """Whether any subject of a kind without consents could be visible at this path: what a
        lookup that is not by key (parcels at a point) is decided on before reading anything."""
        (grant,) = await self.decide_many(type_name, [""], fields, via)
        return grant.visible

    async def _decide_batch(self, keys: list[DecisionKey]) -> list[Grant]:
        """Grants for these keys: those already decided in this request, the rest decided now."""
        undecided = [key for key in keys if key not in self._granted]
        if undecided:
            for key, grant in zip(undecided, await self._decide_safely(undecided), strict=True):
                self._granted[key] = grant
        return [self._granted[key] for key in keys]

    async def _decide_safely(self, keys: list[DecisionKey]) -> list[Grant]:
        try:
            return await self._decide(keys)
        except PolicyUnavailable as error:
            self._metrics.decisions.labels("error").inc()
            log.error("policy engine unavailable", error=str(error))
            raise unavailable("the policy engine") from error
        except Exception as error:  # the policy data could not be read: no decision, no data
            self._metrics.decisions.labels("error").inc()
            log.error("policy data unavailable", error=type(error).__name__)
            raise unavailable("the policy data") from error

    async def _decide(self, keys: list[DecisionKey]) -> list[Grant]:
        agency = self.principal.agency
        await self._scope({k[0] for k in keys} - self._scoped.keys())
        scoped = self._scoped
        consenting = sorted({subject for t, subject, _, _ in keys if t in CONSENTING and subject})
        needs_consent = any(a["consent_required"] for t in CONSENTING for a in scoped.get(t, []))
        consents: dict[str, list[dict[str, Any]]] = {}
        if needs_consent and consenting:
            async with self._database.session() as session:
                consents = await consents_of(session=session, subject_ids=consenting, agency=agency)
        roles, now = tuple(sorted(self.principal.roles)), datetime.now(UTC)
        # A level's subjects share their type, field set and relation: each such group is one
        # call, which the engine answers in as few evaluations as it can
        levels: dict[tuple[str, frozenset[str], str | None], list[DecisionRequest]] = {}
        for type_name, subject, fields, via in keys:
            level = levels.setdefault((type_name, fields, via), [])
            level.append(
                DecisionRequest(
                    agency=agency,
                    roles=roles,
                    purpose=self.purpose,
                    type=type_name,
                    subject=subject,
                    fields=level[0].fields if level else sorted(fields),
                    agreements=scoped[type_name],
                    consents=consents.get(subject, []),
                    via=via,
                    citizen_id=self.principal.citizen_id,
                    now=now,
                    dossier=self.dossier.get(type_name, ())
                    if self.dossier is not None and via is None
                    else None,
                )
            )
        decided: dict[DecisionKey, Decision] = {}
        for (type_name, fields, via), requests in levels.items():
            for request, decision in zip(
                requests, await self._engine.decide_many(requests), strict=True
            ):
                decided[type_name, request.subject, fields, via] = decision
        grants = []
        for key in keys:
            type_name, subject, decision = key[0], key[1], decided[key]
            self._count(decision)
            grants.append(Grant(type_name, subject, decision, self.entry(type_name, subject)))
        return grants

    async def _scope(self, types: set[str]) -> None:
        """The agreements of each type's scope, from the cache when it holds the policy version a
        compiled plan has just read, else through the database."""
        agency, purpose, version = self.principal.agency, self.purpose, self.policy_version
        if purpose is None:  # no purpose, no agreement applies
            self._scoped.update({type_name: [] for type_name in types})
            return
        unknown = set()
        for type_name in types:
            cached = (
                self._agreements.cached_for(
                    agency=agency, purpose=purpose, subject_type=type_name, version=version
                )
                if version is not None
                else None
            )
            if cached is None:
                unknown.add(type_name)
            else:
                self._scoped[type_name] = cached
        if not unknown:
            return
        async with self._database.session() as session:
            for type_name in unknown:
                self._scoped[type_name] = await self._agreements.agreements_for(
                    session=session,
                    agency=agency,
                    purpose=purpose,
                    subject_type=type_name,
                    version=version,
                )

    def _count(self, decision: Decision) -> None:
        outcomes = decision.fields.values()
        if all(o == "allow" for o in outcomes):
            outcome = "allow"
        elif decision.allow:
            outcome = "partial"
        else:
            outcome = "deny"
        self._metrics.decisions.labels(outcome).inc()

    def reset(self) -> None:
        """Forget every decision and record of this request: a compiled plan that hands the
        request to the generic executor leaves nothing behind it (the executor starts afresh)."""
        self._granted.clear()
        self._disclosed.clear()
        self._scoped.clear()
        self._adopted.clear()
        self._loader = None
        self.policy_version = None

    def adopt(self, other: Guard, note: Mapping[str, Any]) -> None:
        """Log another guard's record with this request's: what a change event's payload gave
        the request's agency, decided by a guard of its own (gateway/events/payloads.py); each
        of its entries' decision carries `note` too (the event's id)."""
        self._adopted.append((other, dict(note)))

    def record_read(
        self,
        *,
        subject_type: str,
        subject_id: str,
        read: str,
        filters: dict[str, Any],
        returned: int,
    ) -> None:
        """A read that is not a registry disclosure (a citizen's own log or consents): one
        access-log row per request, with what was read, the filter and how much it returned."""
        self._reads.append(
            {
                "subject_type": subject_type,
                "subject_id": subject_id,
                "decision": {
                    "outcome": "self",
                    "read": read,
                    "filter": filters,
                    "returned": returned,
                    "roles": sorted(self.principal.roles),
                },
            }
        )

    def record_dossier(
        self,
        *,
        number: str,
        purpose: str,
        subjects: Iterable[tuple[str, str, str]],
        expires_at: datetime,
    ) -> None:
        """A dossier registered: one entry per subject it names ((type, key, role)), so that
        each citizen sees the case opened about them. Nothing of the subject is read or given."""
        for type_name, subject, role in subjects:
            self._reads.append(
                {
                    "subject_type": SUBJECT_KINDS[type_name].audit_name,
                    "subject_id": subject,
                    "purpose": purpose,
                    "decision": {
                        "outcome": "dossier",
                        "dossier": number,
                        "role": role,
                        "expires_at": expires_at.astimezone(UTC).isoformat(),
                        "roles": sorted(self.principal.roles),
                    },
                }
            )

    def disclosures(
        self,
        *,
        request_id: str,
        officer: Officer | None,
        operation: str | None,
        dossier: str | None = None,
        correlation_id: str | None = None,
    ) -> list[Disclosure]:
        """One access-log entry per subject this request looked up by key or wrote anything of
        (given, masked or refused), and one per recorded read; each names the officer (and how
        the officer was verified) and the dossier the request served."""
        own = self.principal.citizen_id if self.principal.is_citizen else None
        accountable: dict[str, Any] = {}
        if officer is not None:
            accountable["officer"] = officer.as_log()
        if dossier is not None:
            accountable["dossier"] = dossier
        if correlation_id is not None:
            accountable["correlation_id"] = correlation_id
        officer_id = officer.id if officer is not None else None
        entries = [
            Disclosure(
                request_id=request_id,
                agency=self.principal.agency,
                subject_type=SUBJECT_KINDS[type_name].audit_name,
                subject_id=subject,
                officer=officer_id,
                purpose=self.purpose or ("self" if subject == own else None),
                legal_basis="; ".join(sorted(entry.legal_basis)) or None,
                operation=operation,
                fields_given=sorted(entry.given),
                fields_masked=sorted(entry.masked),
                fields_denied=sorted(entry.denied - entry.given - entry.masked),
                decision={
                    # a citizen reading their own record is a read of their own, not a
                    # disclosure to anyone else
                    "outcome": "self"
                    if subject == own and type_name == "Resident"
                    else entry.outcome,
                    "reasons": {k: v for k, v in entry.reasons.items() if k in entry.denied},
                    "roles": sorted(self.principal.roles),
                    **accountable,
                },
            )
            for (type_name, subject), entry in self._disclosed.items()
            if type_name in SUBJECT_KINDS
            and (entry.given or entry.masked or entry.denied or entry.refused or entry.looked_up)
        ]
        entries.extend(
            Disclosure(
                request_id=request_id,
                agency=self.principal.agency,
                officer=officer_id,
                purpose=read.get("purpose", "self"),
                operation=operation,
                subject_type=read["subject_type"],
                subject_id=read["subject_id"],
                decision={**read["decision"], **accountable},
            )
            for read in self._reads
        )
        for other, note in self._adopted:
            entries.extend(
                replace(entry, decision={**entry.decision, **note})
                for entry in other.disclosures(
                    request_id=request_id,
                    officer=officer,
                    operation=operation,
                    dossier=dossier,
                    correlation_id=correlation_id,
                )
            )
        return entries
