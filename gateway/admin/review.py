"""The review an agency's own artefacts go through (agency documents, event subscriptions): one
copy of the steps and of who may take them.

A proposal is `submitted`; stewards of every scope it reaches approve it, none of them its
proposer (gateway.admin.approvals), possibly in several decisions (it stays `submitted` with the
approvals so far); it may be rejected with a note, suspended once approved, resubmitted after a
rejection or suspension (its resubmitter becomes a proposer and the approvals start again), and
revoked for good. Every step is a new version naming who took it. Each resource says which
scopes it needs and what must still hold when it is approved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import approvals
from gateway.admin.history import for_change, versions
from gateway.admin.problems import bad_input, conflict
from gateway.identity.principal import Principal
from gateway.policy.service import agency_province
from registries.history import Versioned, supersede


@dataclass(frozen=True)
class Step:
    allowed_from: frozenset[str]
    to: str
    note_required: bool = False


STEPS = {
    "approve": Step(frozenset({"submitted"}), "approved"),
    "reject": Step(frozenset({"submitted"}), "rejected", note_required=True),
    "suspend": Step(frozenset({"approved"}), "suspended", note_required=True),
    "resubmit": Step(frozenset({"rejected", "suspended"}), "submitted"),
    "revoke": Step(frozenset({"submitted", "approved", "rejected", "suspended"}), "revoked", True),
}


# A versioned row with the review's columns: agency, status, approvals, created_by, changed_by,
# note (gateway.policy.models' AgencyDocument, Subscription)
ReviewedT = TypeVar("ReviewedT", bound=Versioned)


def authors(history: Iterable[Any]) -> set[str]:
    """Who proposed what is under review: the proposer and whoever resubmitted it since it last
    left review (an approval for one scope is not a proposal)."""
    found: set[str] = set()
    for version in sorted(history, key=lambda v: v.valid_from, reverse=True):
        if version.status != "submitted":
            break
        found.add(version.created_by)
    return found


def proposal(actor: str) -> dict[str, Any]:
    """The review's columns of a new proposal by `actor`."""
    return {"status": "submitted", "approvals": {}, "created_by": actor, "changed_by": actor,
            "note": None}  # fmt: skip


async def decide(
    *,
    session: AsyncSession,
    model: type[ReviewedT],
    key: Mapping[str, str],
    what: str,
    action: str,
    decider: Principal,
    note: str | None,
    if_match: str | None,
    needs: Callable[[ReviewedT], frozenset[str]],
    still_holds: Callable[[ReviewedT], Awaitable[None]],
) -> ReviewedT:
    """One step of the review (STEPS), as the module says; `still_holds` raises when what the
    proposal relies on no longer does (checked before an approval counts)."""
    step = STEPS[action]
    found = await for_change(session=session, model=model, key=key, what=what, if_match=if_match)
    current: Any = found
    if current.status not in step.allowed_from:
        raise conflict(
            f"cannot {action} a {current.status} {what} "
            f"(only a {' or '.join(sorted(step.allowed_from))} one)"
        )
    if step.note_required and not note:
        raise bad_input("note", f"say why you {action} it")
    actor = decider.subject
    values: dict[str, Any] = {"status": step.to, "changed_by": actor, "note": note}
    if action in {"approve", "reject"}:
        proposers = authors(await versions(session=session, model=model, key=key, what=what))
        province = await agency_province(session=session, agency=current.agency)
        wanted = needs(found)
        if action == "reject":
            approvals.may_reject(
                decider, authors=proposers, needs=wanted, province=province, what=what
            )
        else:
            await still_holds(found)
            given = approvals.approve(
                decider,
                authors=proposers,
                needs=wanted,
                approvals=current.approvals or {},
                province=province,
                what=what,
            )
            values["approvals"] = given
            if not approvals.approved(wanted, given):
                values["status"] = "submitted"  # waits for the other scopes' stewards
    if action == "resubmit":
        values.update(approvals={}, created_by=actor)
    version, _ = await supersede(session=session, model=model, key=dict(key), values=values)
    return version
