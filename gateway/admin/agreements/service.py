"""Agreements: drafted, submitted, approved or rejected by another steward (four-eyes),
suspended, expired. Every change is a new version naming the steward who made it.

An approval or a suspension takes effect on the very next decision: the agreements trigger
moves the policy version, which the agreement cache and the OPA bundle's revision follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLSchema
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import approvals
from gateway.admin.agreements.models import AgreementIn, AgreementTerms
from gateway.admin.approvals import domains_of
from gateway.admin.history import current, for_change, keyset_page, versions
from gateway.admin.problems import bad_input, conflict
from gateway.admin.schema_rules import check_fields, check_relations
from gateway.graph.masking import MASKS
from gateway.identity.principal import Principal
from gateway.policy.models import Agency, Agreement, Purpose
from gateway.policy.service import agency_province
from registries.history import is_current, supersede

WHAT = "agreement"
EDITABLE = frozenset({"draft", "rejected", "suspended", "expired"})  # an edit makes a draft
IN_REVIEW = frozenset({"draft", "submitted"})


@dataclass(frozen=True)
class Transition:
    allowed_from: frozenset[str]
    to: str
    four_eyes: bool = False
    note_required: bool = False


TRANSITIONS = {
    "submit": Transition(frozenset({"draft", "suspended"}), "submitted"),
    "approve": Transition(frozenset({"submitted"}), "approved", four_eyes=True),
    "reject": Transition(frozenset({"submitted"}), "rejected", four_eyes=True, note_required=True),
    "suspend": Transition(frozenset({"approved"}), "suspended", note_required=True),
    "expire": Transition(frozenset({"approved", "suspended"}), "expired"),
}


def agreement_id(agency: str, purpose: str, subject_type: str) -> str:
    """The id `lienthong etl load agreements` gives too: one agreement per scope."""
    return f"{agency}/{purpose}/{subject_type}"


async def list_agreements(
    *,
    session: AsyncSession,
    agency: str | None,
    purpose: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Agreement], str | None]:
    query = select(Agreement).where(is_current(Agreement))
    for column, value in (
        (Agreement.agency, agency),
        (Agreement.purpose, purpose),
        (Agreement.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    return await keyset_page(
        session=session, query=query, key=Agreement.agreement_id, limit=limit, cursor=cursor
    )


async def get_agreement(*, session: AsyncSession, agreement_id: str) -> Agreement:
    return await current(
        session=session, model=Agreement, key={"agreement_id": agreement_id}, what=WHAT
    )


async def agreement_versions(*, session: AsyncSession, agreement_id: str) -> list[Agreement]:
    return await versions(
        session=session, model=Agreement, key={"agreement_id": agreement_id}, what=WHAT
    )


async def _exists(session: AsyncSession, column: Any, value: str) -> bool:
    model = column.class_
    count = await session.execute(select(func.count()).where(column == value, is_current(model)))
    return bool(count.scalar_one())


def _check_terms(schema: GraphQLSchema, subject_type: str, terms: dict[str, Any]) -> None:
    check_fields(schema, subject_type, terms["fields"])
    check_relations(subject_type, terms.get("via") or ())
    masking: dict[str, str] = terms.get("masking") or {}
    outside = sorted(set(masking) - set(terms["fields"]))
    if outside:
        raise bad_input(
            "masking", f"masks fields the agreement does not give: {', '.join(outside)}"
        )
    unknown = sorted(set(masking.values()) - set(MASKS))
    if unknown:
        raise bad_input("masking", f"unknown mask {', '.join(unknown)} (known: {', '.join(MASKS)})")
    ends: datetime | None = terms.get("effective_to")
    if ends is not None and ends <= terms["effective_from"]:
        raise bad_input("effective_to", "must be after effective_from")


async def create_agreement(
    *, session: AsyncSession, schema: GraphQLSchema, new: AgreementIn, actor: str
) -> Agreement:
    if not await _exists(session, Agency.client_id, new.agency):
        raise bad_input("agency", f"no agency {new.agency!r} is registered")
    if not await _exists(session, Purpose.code, new.purpose):
        raise bad_input("purpose", f"no purpose {new.purpose!r} in the catalogue")
    terms = new.model_dump(exclude={"agency", "purpose", "subject_type"})
    _check_terms(schema, new.subject_type, terms)
    key = agreement_id(new.agency, new.purpose, new.subject_type)
    if await _exists(session, Agreement.agreement_id, key):
        raise conflict(f"agreement {key!r} exists: edit it instead")
    agreement, _ = await supersede(
        session=session,
        model=Agreement,
        key={"agreement_id": key},
        values={
            **terms,
            "agency": new.agency,
            "purpose": new.purpose,
            "subject_type": new.subject_type,
            "status": "draft",
            "created_by": actor,
            "approved_by": None,
            "changed_by": actor,
            "note": None,
        },
    )
    return agreement


async def edit_agreement(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    agreement_id: str,
    change: AgreementTerms,
    actor: str,
    if_match: str | None,
) -> Agreement:
    """A change to the terms; the agreement becomes a draft again and must be reviewed."""
    found = await for_change(
        session=session,
        model=Agreement,
        key={"agreement_id": agreement_id},
        what=WHAT,
        if_match=if_match,
    )
    if found.status not in EDITABLE:
        raise conflict(
            f"a {found.status} agreement cannot be edited"
            + (": suspend it first" if found.status == "approved" else "")
        )
    values = change.model_dump(exclude_unset=True)
    for name in ("fields", "legal_basis", "effective_from", "consent_required", "masking"):
        if name in values and values[name] is None:
            raise bad_input(name, "cannot be null")
    terms = {
        "fields": list(found.fields),
        "via": found.via,
        "masking": dict(found.masking or {}),
        "effective_from": found.effective_from,
        "effective_to": found.effective_to,
        **values,
    }
    _check_terms(schema, found.subject_type, terms)
    agreement, _ = await supersede(
        session=session,
        model=Agreement,
        key={"agreement_id": agreement_id},
        values={
            **values,
            "status": "draft",
            "approved_by": None,
            "changed_by": actor,
            "note": None,
        },
    )
    return agreement


def authors(history: Iterable[Agreement]) -> set[str]:
    """The stewards behind the terms under review: whoever made a version since the agreement
    last left review (and its creator, when it never did)."""
    found: set[str] = set()
    newest_first = sorted(history, key=lambda v: v.valid_from, reverse=True)
    for version in newest_first:
        if version.status not in IN_REVIEW:
            return found
        found.add(version.changed_by or version.created_by)
    return found | {v.created_by for v in newest_first[-1:]}


async def transition(
    *,
    session: AsyncSession,
    agreement_id: str,
    action: str,
    decider: Principal,
    note: str | None,
    if_match: str | None,
) -> Agreement:
    """A step of the agreement's life; approving and rejecting are decisions: four-eyes, by a
    steward of the registry the agreement opens (gateway.admin.approvals)."""
    step = TRANSITIONS[action]
    actor = decider.subject
    found = await for_change(
        session=session,
        model=Agreement,
        key={"agreement_id": agreement_id},
        what=WHAT,
        if_match=if_match,
    )
    if found.status not in step.allowed_from:
        raise conflict(
            f"cannot {action} a {found.status} agreement "
            f"(only a {' or '.join(sorted(step.allowed_from))} one)"
        )
    if step.note_required and not note:
        raise bad_input("note", f"say why you {action} it")
    if step.four_eyes:
        history = await agreement_versions(session=session, agreement_id=agreement_id)
        needs = domains_of([found.subject_type])
        province = await agency_province(session=session, agency=found.agency)
        if action == "approve":
            approvals.approve(decider, authors=authors(history), needs=needs, approvals={},
                              province=province, what=WHAT)  # fmt: skip
        else:
            approvals.may_reject(decider, authors=authors(history), needs=needs,
                                 province=province, what=WHAT)  # fmt: skip
    values: dict[str, Any] = {"status": step.to, "changed_by": actor, "note": note}
    if action == "approve":
        values["approved_by"] = actor
    if action == "expire":
        now = (await session.execute(select(func.now()))).scalar_one()
        if found.effective_to is None or found.effective_to > now:
            values["effective_to"] = now
    agreement, _ = await supersede(
        session=session, model=Agreement, key={"agreement_id": agreement_id}, values=values
    )
    return agreement
