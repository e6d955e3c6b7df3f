"""Policy data in PostgreSQL: loading, citizens' consents, and what each decision is handed.

A decision gets only what it needs — the requesting agency's agreements and the subjects'
consents — because evaluation time grows with the data given to the engine.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.approvals import PLATFORM
from gateway.identity.keys import active_keys
from gateway.policy.consents import check_consent
from gateway.policy.models import (
    Agency,
    AgencyDocument,
    Agreement,
    Consent,
    PolicyVersion,
    Proposal,
    Purpose,
)
from registries.history import is_current, supersede

log = structlog.get_logger(__name__)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def agreement_input(agreement: Agreement) -> dict[str, Any]:
    """An agreement in the shape the Rego policy reads."""
    return {
        "agreement_id": agreement.agreement_id,
        "agency": agreement.agency,
        "purpose": agreement.purpose,
        "type": agreement.subject_type,
        "fields": list(agreement.fields),
        "via": list(agreement.via) if agreement.via else None,
        "legal_basis": agreement.legal_basis,
        "status": agreement.status,
        "valid_from": _iso(agreement.effective_from),
        "valid_to": _iso(agreement.effective_to),
        "consent_required": agreement.consent_required,
        "masking": dict(agreement.masking or {}),
    }


def consent_input(consent: Consent) -> dict[str, Any]:
    return {
        "consent_id": consent.consent_id,
        "subject": consent.subject_id,
        "agency": consent.agency,
        "purpose": consent.purpose,
        "fields": list(consent.fields),
        "granted_at": _iso(consent.granted_at),
        "expires_at": _iso(consent.expires_at),
        "revoked_at": _iso(consent.revoked_at),
    }


# One load of a policy document at a time: two first loads of an empty store racing would
# both take themselves for the bootstrap (pg_advisory_xact_lock key, an arbitrary constant)
POLICY_LOAD_LOCK = 7_240_023
_PROVINCE = re.compile(r"[0-9]{2}")


@dataclass
class PolicyLoad:
    """What loading a policy document did. Into a store that already holds policy it approves
    nothing: changed agreements become submitted versions and changed purposes proposals, each
    awaiting a steward's decision (gateway.admin.approvals); only the first load of an empty
    store (`bootstrap`) writes them as the document says, approvals included, with `warning`."""

    changed: int = 0  # records written
    bootstrap: bool = False
    submitted: list[str] = field(default_factory=list)  # agreements awaiting approval
    proposed: list[str] = field(default_factory=list)  # purposes awaiting approval
    warning: str | None = None


async def holds_policy(session: AsyncSession) -> bool:
    """Whether any agency or agreement was ever stored (any version): no longer a bootstrap."""
    found = await session.execute(
        select(
            or_(
                select(Agency.version_id).exists(),
                select(Agreement.version_id).exists(),
            )
        )
    )
    return bool(found.scalar_one())


def _agreement_terms(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fields": list(item["fields"]),
        "via": list(item["via"]) if item.get("via") else None,
        "legal_basis": item["legal_basis"],
        "legal_reference": item.get("legal_reference"),
        "effective_from": datetime.fromisoformat(item["valid_from"]),
        "effective_to": datetime.fromisoformat(item["valid_to"]) if item.get("valid_to") else None,
        "consent_required": bool(item["consent_required"]),
        "masking": dict(item.get("masking") or {}),
        "daily_quota": item.get("daily_quota"),
    }


def _province(agency: Mapping[str, Any]) -> str | None:
    province = agency.get("province")
    if province is not None and not (isinstance(province, str) and _PROVINCE.fullmatch(province)):
        raise ValueError(f"agency {agency['client_id']}: province must be a 2-digit code")
    return province


def _same(current: Any, values: Mapping[str, Any]) -> bool:
    return current is not None and all(getattr(current, k) == v for k, v in values.items())


async def _current(session: AsyncSession, column: Any, value: str) -> Any:
    model = column.class_
    found = await session.execute(select(model).where(column == value, is_current(model)))
    return found.scalar_one_or_none()


async def open_proposal(*, session: AsyncSession, kind: str, code: str) -> Proposal | None:
    """The proposal awaiting a decision for this purpose or form, if any."""
    found = await session.execute(
        select(Proposal).where(
            Proposal.kind == kind,
            Proposal.code == code,
            Proposal.status == "submitted",
            is_current(Proposal),
        )
    )
    return found.scalar_one_or_none()


async def propose(
    *,
    session: AsyncSession,
    kind: str,
    code: str,
    document: dict[str, Any],
    base: str | None,
    needs: Iterable[str],
    actor: str,
) -> Proposal:
    """`document` proposed for the purpose or form `code`, awaiting approval by stewards of
    every scope in `needs`; it replaces an open proposal (whose approvals lapse with it)."""
    proposal, _ = await supersede(
        session=session,
        model=Proposal,
        key={"kind": kind, "code": code},
        values={
            "document": document,
            "base": base,
            "needs": sorted(set(needs)),
            "approvals": {},
            "status": "submitted",
            "proposed_by": actor,
            "changed_by": actor,
            "note": None,
        },
    )
    return proposal


async def load_policy_document(
    *, session: AsyncSession, document: Mapping[str, Any], actor: str
) -> PolicyLoad:
    """Load agencies, purposes and agreements (e.g. infra/sample/policy.json); idempotent: what
    already reads as the document says is left as it is, whatever its status.

    Into a store that holds policy (any agency or agreement, ever) a load decides nothing:
    a new agency is registered active but a suspended one stays suspended; an agreement whose
    terms differ becomes a submitted version awaiting approval (an approved one stops giving
    access until then); a purpose that differs becomes a proposal. Only the first load of an
    empty store writes statuses as the document says (approved agreements included, with
    `actor` as their approver), and says so in `warning` and the log."""
    await session.execute(select(func.pg_advisory_xact_lock(POLICY_LOAD_LOCK)))
    load = PolicyLoad(bootstrap=not await holds_policy(session))
    for agency in document.get("agencies", []):
        values = {"name": agency["name"], "kind": agency["kind"], "province": _province(agency)}
        current = await _current(session, Agency.client_id, agency["client_id"])
        if _same(current, values):
            continue
        if current is None:
            values["status"] = "active"
        await supersede(session=session, model=Agency, key={"client_id": agency["client_id"]},
                        values={**values, "changed_by": actor})  # fmt: skip
        load.changed += 1
    for purpose in document.get("purposes", []):
        await _load_purpose(session, load, purpose, actor)
    for item in document.get("agreements", []):
        await _load_agreement(session, load, item, actor)
    if load.bootstrap and load.changed:
        approved = sum(1 for a in document.get("agreements", []) if a.get("status") == "approved")
        load.warning = (
            f"first bootstrap of an empty policy store: {approved} agreement(s) and "
            f"{len(document.get('purposes', []))} purpose(s) loaded in force as the file says, "
            f"approved by {actor!r} with no steward's review; any later load into this store "
            "only submits changes for stewards to approve"
        )
        log.warning("policy bootstrap: loaded in force without review", actor=actor,
                    approved_agreements=approved, records=load.changed)  # fmt: skip
    return load


async def _load_purpose(
    session: AsyncSession, load: PolicyLoad, purpose: Mapping[str, Any], actor: str
) -> None:
    code = purpose["code"]
    values = {
        "title": purpose["title"],
        "procedure": purpose["procedure"],
        "case_bound": bool(purpose.get("case_bound", False)),
    }
    current = await _current(session, Purpose.code, code)
    if _same(current, values):
        return
    if load.bootstrap:
        await supersede(session=session, model=Purpose, key={"code": code},
                        values={**values, "changed_by": actor, "approved_by": actor})  # fmt: skip
    else:
        pending = await open_proposal(session=session, kind="purpose", code=code)
        if pending is not None and pending.document == values:
            return
        base = f'"{current.version_id}"' if current is not None else None
        await propose(session=session, kind="purpose", code=code, document=values, base=base,
                      needs=[PLATFORM], actor=actor)  # fmt: skip
        load.proposed.append(code)
    load.changed += 1


async def _load_agreement(
    session: AsyncSession, load: PolicyLoad, item: Mapping[str, Any], actor: str
) -> None:
    agreement_id = f"{item['agency']}/{item['purpose']}/{item['type']}"
    terms = _agreement_terms(item)
    current = await _current(session, Agreement.agreement_id, agreement_id)
    if _same(current, terms):
        return
    status = item.get("status", "draft")
    if not load.bootstrap and status == "approved":
        status = "submitted"  # for a steward of its registry to approve
    if status == "submitted":
        load.submitted.append(agreement_id)
    await supersede(
        session=session,
        model=Agreement,
        key={"agreement_id": agreement_id},
        values={
            **terms,
            "agency": item["agency"],
            "purpose": item["purpose"],
            "subject_type": item["type"],
            "status": status,
            "created_by": current.created_by if current is not None else actor,
            "approved_by": actor if status == "approved" else None,
            "changed_by": actor,
            "note": None,
        },
    )
    load.changed += 1


async def grant_consent(
    *,
    session: AsyncSession,
    subject_id: str,
    agency: str,
    purpose: str,
    fields: Sequence[str],
    expires_at: datetime,
    channel: str = "online",
    officer: str | None = None,
    document_reference: str | None = None,
) -> Consent:
    """Records a citizen's consent, online or taken on paper at a counter (`channel`, with the
    officer and the paper's reference), once `check_consent` (gateway/policy/consents.py) lets
    it be: ConsentRefused otherwise, and nothing is written."""
    now = datetime.now(UTC)
    await check_consent(
        session=session,
        subject_id=subject_id,
        agency=agency,
        purpose=purpose,
        fields=fields,
        expires_at=expires_at,
        granted_at=now,
    )
    consent, _ = await supersede(
        session=session,
        model=Consent,
        key={"consent_id": str(uuid.uuid4())},
        values={
            "subject_id": subject_id,
            "agency": agency,
            "purpose": purpose,
            "fields": list(fields),
            "granted_at": now,
            "expires_at": expires_at,
            "revoked_at": None,
            "channel": channel,
            "officer": officer,
            "document_reference": document_reference,
        },
    )
    return consent


class ConsentNotFound(LookupError):  # noqa: N818 - a lookup outcome, reported as not found
    """No consent with that id belongs to this citizen."""


async def revoke_consent(*, session: AsyncSession, consent_id: str, subject_id: str) -> Consent:
    current = (
        await session.execute(
            select(Consent).where(
                Consent.consent_id == consent_id,
                Consent.subject_id == subject_id,
                is_current(Consent),
            )
        )
    ).scalar_one_or_none()
    if current is None:
        raise ConsentNotFound(consent_id)
    if current.revoked_at is not None:
        return current
    revoked, _ = await supersede(
        session=session,
        model=Consent,
        key={"consent_id": consent_id},
        values={"revoked_at": datetime.now(UTC)},
    )
    return revoked


async def agency_status(*, session: AsyncSession, agency: str) -> str | None:
    """`active` or `suspended` as the agency stands now; None for an agency never registered."""
    found = await session.execute(
        select(Agency.status).where(Agency.client_id == agency, is_current(Agency))
    )
    return found.scalar_one_or_none()


async def agency_and_purpose_names(
    *, session: AsyncSession, agencies: Iterable[str], purposes: Iterable[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The registered names of these agencies and the titles of these purposes, as they stand
    (an unknown one is left out)."""
    wanted_agencies, wanted_purposes = set(agencies), set(purposes)
    agency_names: dict[str, str] = {}
    purpose_titles: dict[str, str] = {}
    if wanted_agencies:
        rows = await session.execute(
            select(Agency.client_id, Agency.name).where(
                Agency.client_id.in_(wanted_agencies), is_current(Agency)
            )
        )
        agency_names = {str(client_id): str(name) for client_id, name in rows}
    if wanted_purposes:
        rows = await session.execute(
            select(Purpose.code, Purpose.title).where(
                Purpose.code.in_(wanted_purposes), is_current(Purpose)
            )
        )
        purpose_titles = {str(code): str(title) for code, title in rows}
    return agency_names, purpose_titles


async def agreements_in_scope(
    *, session: AsyncSession, agency: str, purpose: str
) -> list[Agreement]:
    """The agency's agreements for a purpose as they stand, whatever their status: what an
    agency's own document or event subscription is checked against (gateway.graph.reach)."""
    rows = await session.execute(
        select(Agreement).where(
            is_current(Agreement), Agreement.agency == agency, Agreement.purpose == purpose
        )
    )
    return list(rows.scalars())


async def agency_province(*, session: AsyncSession, agency: str) -> str | None:
    """A provincial agency's province (2-digit code); None for a national or unknown one."""
    found = await session.execute(
        select(Agency.province).where(Agency.client_id == agency, is_current(Agency))
    )
    return found.scalar_one_or_none()


async def consent_records(*, session: AsyncSession, subject_id: str) -> list[Consent]:
    """A citizen's consents as they stand now (revoked ones included), newest first."""
    rows = await session.execute(
        select(Consent)
        .where(Consent.subject_id == subject_id, is_current(Consent))
        .order_by(Consent.granted_at.desc(), Consent.consent_id)
    )
    return list(rows.scalars())


async def consents_of(
    *, session: AsyncSession, subject_ids: Iterable[str], agency: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The current consents of each subject (for one agency if given), in one statement."""
    wanted = set(subject_ids)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not wanted:
        return found
    query = select(Consent).where(Consent.subject_id.in_(wanted), is_current(Consent))
    if agency is not None:
        query = query.where(Consent.agency == agency)
    for consent in (await session.execute(query)).scalars():
        found[consent.subject_id].append(consent_input(consent))
    return found


@dataclass(frozen=True)
class DailyQuota:
    """An agreement's daily quota: subjects of its type disclosed per day for its purpose."""

    agreement_id: str
    purpose: str
    subject_type: str  # the subject kind (Resident, …)
    quota: int
    valid_from: datetime
    valid_to: datetime | None

    def in_force(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_to is None or now < self.valid_to)


@dataclass
class PolicyEntry:
    """What the gateway holds of one agency at one policy version: its agreements (by scope), the
    keys its officer assertions are signed with, its agreements' daily quotas, and which
    purposes are case-bound."""

    version: int
    agreements: list[dict[str, Any]]
    by_scope: dict[tuple[str, str], list[dict[str, Any]]]
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    quotas: tuple[DailyQuota, ...] = ()
    case_bound: frozenset[str] = frozenset()

    @classmethod
    def of(cls, version: int, agreements: list[dict[str, Any]], **more: Any) -> PolicyEntry:
        by_scope: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for agreement in agreements:
            by_scope[agreement["purpose"], agreement["type"]].append(agreement)
        return cls(version, agreements, dict(by_scope), **more)

    def quotas_for(self, purpose: str, now: datetime) -> list[DailyQuota]:
        """The quotas in force for a purpose, the smallest of each subject type first."""
        found = [q for q in self.quotas if q.purpose == purpose and q.in_force(now)]
        return sorted(found, key=lambda q: (q.subject_type, q.quota, q.agreement_id))


class AgreementCache:
    """An agency's agreements, reloaded whenever the policy version counter moves, so an
    approval or a suspension takes effect on the very next decision."""

    def __init__(self) -> None:
        self._by_agency: dict[str, PolicyEntry] = {}

    async def agreements_for(
        self,
        *,
        session: AsyncSession,
        agency: str,
        purpose: str | None = None,
        subject_type: str | None = None,
        version: int | None = None,
    ) -> list[dict[str, Any]]:
        """The agency's agreements; with `purpose` and `subject_type`, only those for that scope
        (the Rego still checks every condition: this only keeps the engine's input small).
        `version` is the policy version counter when the caller has just read it (a compiled
        plan reads it with the subject, in the same statement); otherwise it is read here."""
        cached = await self._load(session=session, agency=agency, version=version)
        if purpose is None or subject_type is None:
            return cached.agreements
        return cached.by_scope.get((purpose, subject_type), [])

    def cached_for(
        self, *, agency: str, purpose: str, subject_type: str, version: int
    ) -> list[dict[str, Any]] | None:
        """`agreements_for` of a scope when the cache holds the agency at `version` (which the
        caller has just read); None when only the database can answer."""
        cached = self._at(agency, version)
        return None if cached is None else cached.by_scope.get((purpose, subject_type), [])

    def latest(self, agency: str) -> int | None:
        """The policy version the cache holds this agency at (None: not cached). A compiled plan
        decides with it before reading, then confirms it in the statement that reads."""
        cached = self._by_agency.get(agency)
        return None if cached is None else cached.version

    def _at(self, agency: str, version: int) -> PolicyEntry | None:
        cached = self._by_agency.get(agency)
        return cached if cached is not None and cached.version == version else None

    async def _load(
        self, *, session: AsyncSession, agency: str, version: int | None
    ) -> PolicyEntry:
        if version is None:
            version = (await session.execute(select(PolicyVersion.version))).scalar_one()
        cached = self._at(agency, version)
        if cached is not None:
            return cached
        active = await agency_status(session=session, agency=agency)
        agreements: list[dict[str, Any]] = []
        quotas: list[DailyQuota] = []
        keys: dict[str, dict[str, Any]] = {}
        if active == "active":  # a suspended or unknown agency gets no agreement at all
            rows = await session.execute(
                select(Agreement).where(Agreement.agency == agency, is_current(Agreement))
            )
            for agreement in rows.scalars():
                agreements.append(agreement_input(agreement))
                if agreement.daily_quota is not None and agreement.status == "approved":
                    quotas.append(
                        DailyQuota(
                            agreement_id=agreement.agreement_id,
                            purpose=agreement.purpose,
                            subject_type=agreement.subject_type,
                            quota=agreement.daily_quota,
                            valid_from=agreement.effective_from,
                            valid_to=agreement.effective_to,
                        )
                    )
            keys = await active_keys(session=session, agency=agency)
        bound = await session.execute(
            select(Purpose.code).where(is_current(Purpose), Purpose.case_bound)
        )
        cached = self._by_agency[agency] = PolicyEntry.of(
            version,
            agreements,
            keys=keys,
            quotas=tuple(quotas),
            case_bound=frozenset(bound.scalars()),
        )
        return cached

    async def entry(
        self, *, session: AsyncSession, agency: str, version: int | None = None
    ) -> PolicyEntry:
        """The agency's entry at `version` (read here when None: the version in force)."""
        return await self._load(session=session, agency=agency, version=version)

    def latest_entry(self, agency: str) -> PolicyEntry | None:
        """The entry the cache holds for the agency, whatever its version (a compiled plan
        confirms the version in the statement that reads)."""
        return self._by_agency.get(agency)


async def policy_document(*, session: AsyncSession) -> dict[str, Any]:
    """The policy data in force: agencies, purposes and the approved agreements not yet ended
    (in the shape the Rego reads), ordered by key — what an OPA bundle carries as data. Drafts,
    submissions, rejected, suspended and expired agreements stay out (the Rego would deny them
    anyway, but they are nobody else's business); one approved to start later is in, since the
    bundle is rebuilt on policy changes, not at a date, and the Rego checks when it starts."""
    agencies = (
        await session.execute(select(Agency).where(is_current(Agency)).order_by(Agency.client_id))
    ).scalars()
    purposes = (
        await session.execute(select(Purpose).where(is_current(Purpose)).order_by(Purpose.code))
    ).scalars()
    agreements = (
        await session.execute(
            select(Agreement)
            .where(
                is_current(Agreement),
                Agreement.status == "approved",
                or_(Agreement.effective_to.is_(None), Agreement.effective_to > func.now()),
            )
            .order_by(Agreement.agreement_id)
        )
    ).scalars()
    return {
        "agencies": [
            {"client_id": a.client_id, "name": a.name, "kind": a.kind, "status": a.status}
            for a in agencies
        ],
        "purposes": [
            {
                "code": p.code,
                "title": p.title,
                "procedure": p.procedure,
                "case_bound": p.case_bound,
            }
            for p in purposes
        ],
        "agreements": [agreement_input(a) for a in agreements],
    }


async def waiting(*, session: AsyncSession) -> dict[str, int]:
    """What waits for a steward's decision, by kind (the console's dashboard)."""
    found: dict[str, int] = {}
    for name, model in (("agreements", Agreement), ("documents", AgencyDocument)):
        query = select(func.count()).where(is_current(model), model.status == "submitted")
        found[name] = int((await session.execute(query)).scalar_one())
    proposals = select(Proposal.kind, func.count()).where(
        is_current(Proposal), Proposal.status == "submitted"
    )
    rows = await session.execute(proposals.group_by(Proposal.kind))
    kinds = {str(kind): int(n) for kind, n in rows}
    found["purposes"] = kinds.get("purpose", 0)
    found["forms"] = kinds.get("form", 0)
    return found
