"""Field-level enforcement: one policy decision per subject, applied field by field.

A resolver that reaches a subject (a resident, a household, an enterprise, a parcel) asks the guard
for a `Grant` covering every field the operation selects on it. Decisions go through a per-request
DataLoader (or, from a compiled plan, `decide_many_now`), so the subjects of one level (100
residents, their households) are decided together: the agency's agreements come from the cache and
the subjects' consents from one query. Fields declared with `guarded()` then give their value, a
masked value, or `null` with a FORBIDDEN error — the declaration, not the resolver, does the check.

Every decision is kept as the subject's disclosure for the access log (one entry per subject
per request, merged when a subject is reached twice).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from strawberry.dataloader import DataLoader
from strawberry.extensions import FieldExtension

from gateway.audit.writer import Disclosure
from gateway.errors import forbidden, unavailable
from gateway.graph.masking import UnknownMask, apply_mask
from gateway.policy.engine import Decision, DecisionRequest, PolicyEngine, PolicyUnavailable
from gateway.policy.service import consents_of

if TYPE_CHECKING:
    from strawberry.types import Info

    from gateway.graph.context import RequestDatabase
    from gateway.identity.principal import Principal
    from gateway.metrics import GatewayMetrics
    from gateway.policy.service import AgreementCache

log = structlog.get_logger(__name__)

# The policy's subject types and the access log's names for them.
AUDIT_SUBJECT_TYPES = {
    "Resident": "resident",
    "Household": "household",
    "Enterprise": "enterprise",
    "Parcel": "parcel",
}
# Only residents give consents; other subjects never need the consent query.
CONSENTING_TYPES = frozenset({"Resident"})


@dataclass(frozen=True)
class Grant:
    """A subject's decision, as the fields of its GraphQL type read it."""

    type: str
    subject: str
    decision: Decision

    def admit(self, field_name: str) -> str:
        """The field's outcome, "allow" or "mask"; FORBIDDEN if it is denied."""
        outcome = self.decision.fields.get(field_name, "deny")
        if outcome in ("allow", "mask"):
            return outcome
        raise forbidden(
            f"{self.type}.{field_name}",
            self.decision.reasons.get(field_name, "not allowed for this purpose"),
        )

    def give(self, field_name: str, outcome: str, value: Any) -> Any:
        if outcome == "allow":
            return value
        try:
            return apply_mask(self.decision.masks[field_name], value)
        except UnknownMask:
            log.warning("unknown mask kind", field=field_name, type=self.type)
            raise forbidden(
                f"{self.type}.{field_name}", "the agreement's mask is unknown"
            ) from None

    def check_subject(self, field_name: str) -> None:
        """A subject with no field allowed at all is refused whole, at the field reaching it."""
        if not self.decision.allow:
            reasons = sorted(set(self.decision.reasons.values()))
            raise forbidden(field_name, reasons[0] if reasons else "not allowed for this purpose")


class Guarded(FieldExtension):
    """Declares a field of a subject type as policy-controlled: the parent's grant decides."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        grant: Grant = source.grant
        outcome = grant.admit(info.field_name)  # refused before anything is resolved
        return grant.give(info.field_name, outcome, next_(source, info, **kwargs))

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        grant: Grant = source.grant
        outcome = grant.admit(info.field_name)
        return grant.give(info.field_name, outcome, await next_(source, info, **kwargs))


@dataclass
class _Disclosed:
    given: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    legal_basis: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)


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
        self._engine = engine
        self._agreements = agreements
        self._database = database
        self._metrics = metrics
        self._loader: DataLoader[DecisionKey, Grant] | None = None  # made on first use
        self._granted: dict[DecisionKey, Grant] = {}  # every decision this request made
        self._disclosed: dict[tuple[str, str], _Disclosed] = {}
        # One request decides on one snapshot of the agreements: each type's are fetched once,
        # not again on every level of the answer
        self._scoped: dict[str, list[dict[str, Any]]] = {}
        # The policy version counter, when a compiled plan read it with the request's subjects
        self.policy_version: int | None = None

    @property
    def loader(self) -> DataLoader[DecisionKey, Grant]:
        if self._loader is None:
            self._loader = DataLoader(self._decide_batch)
        return self._loader

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

    async def decide_many(
        self, type_name: str, subjects: Sequence[str], fields: Iterable[str], via: str | None = None
    ) -> list[Grant]:
        wanted = frozenset(fields)
        return list(await self.loader.load_many([(type_name, s, wanted, via) for s in subjects]))

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
        consenting = sorted({subject for t, subject, _, _ in keys if t in CONSENTING_TYPES})
        needs_consent = any(
            a["consent_required"] for t in CONSENTING_TYPES for a in scoped.get(t, [])
        )
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
                )
            )
        decided: dict[DecisionKey, Decision] = {}
        for (type_name, fields, via), requests in levels.items():
            for request, decision in zip(
                requests, await self._engine.decide_many(requests), strict=True
            ):
                decided[type_name, request.subject, fields, via] = decision
        grants = []
        for key in keys:  # remembered in the order asked: the access log's order
            type_name, subject = key[0], key[1]
            self._remember(type_name, subject, decided[key])
            grants.append(Grant(type_name, subject, decided[key]))
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

    def _remember(self, type_name: str, subject: str, decision: Decision) -> None:
        outcomes = decision.fields.values()
        if all(o == "allow" for o in outcomes):
            outcome = "allow"
        elif decision.allow:
            outcome = "partial"
        else:
            outcome = "deny"
        self._metrics.decisions.labels(outcome).inc()
        if type_name not in AUDIT_SUBJECT_TYPES:
            return
        entry = self._disclosed.setdefault((type_name, subject), _Disclosed())
        for name, field_outcome in decision.fields.items():
            {"allow": entry.given, "mask": entry.masked}.get(field_outcome, entry.denied).add(name)
        entry.legal_basis.update(decision.legal_basis)
        entry.reasons.update(decision.reasons)

    def disclosures(
        self, *, request_id: str, officer: str | None, operation: str | None
    ) -> list[Disclosure]:
        """One access-log entry per subject this request decided on."""
        return [
            Disclosure(
                request_id=request_id,
                agency=self.principal.agency,
                subject_type=AUDIT_SUBJECT_TYPES[type_name],
                subject_id=subject,
                officer=officer,
                purpose=self.purpose,
                legal_basis="; ".join(sorted(entry.legal_basis)) or None,
                operation=operation,
                fields_given=sorted(entry.given),
                fields_masked=sorted(entry.masked),
                fields_denied=sorted(entry.denied - entry.given - entry.masked),
                decision={"reasons": entry.reasons, "roles": sorted(self.principal.roles)},
            )
            for (type_name, subject), entry in self._disclosed.items()
        ]
