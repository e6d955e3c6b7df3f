"""Changes to purposes and forms under four-eyes: a steward proposes, and the change is in force
only once stewards of every scope it reaches have approved it (gateway.admin.approvals: a purpose
reaches the platform, a form the registries it reads).

Invariants:
- what runs is only ever the version in force (`purposes`, `form_templates`); a proposal
  (`proposals`, gateway.policy.models.Proposal) changes nothing until its last approval, which
  writes the change there in the same transaction, naming who proposed and who approved it;
- a decision names the proposal's version it was made on (`If-Match`): a steward approves
  exactly what they read, and a replaced proposal is never approved in its successor's place;
- the proposer never decides their own proposal (four_eyes); a rejection needs a note;
- a proposal whose version in force changed since it was made is not applied (409): approving
  it would silently undo that change. It can be rejected, or proposed again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import approvals
from gateway.admin.history import versions
from gateway.admin.http import require_match
from gateway.admin.problems import bad_input, conflict, not_found
from gateway.identity.principal import Principal
from gateway.policy.models import Proposal
from gateway.policy.service import open_proposal
from registries.history import is_current, supersede

# Writes an approved proposal in force, given who approved it
Apply = Callable[[Proposal, str], Awaitable[None]]


def _key(kind: str, code: str) -> dict[str, str]:
    return {"kind": kind, "code": code}


def etag(proposal: Proposal) -> str:
    """A proposal's ETag, never equal to one of the purpose's or form's own: sent to approve,
    the ETag of the version in force is refused (412), not taken for the proposal's."""
    return f'"proposal-{proposal.version_id}"'


def tag(response: Response, proposal: Proposal) -> None:
    response.headers["ETag"] = etag(proposal)


async def pending(*, session: AsyncSession, kind: str, code: str) -> Proposal:
    """The proposal awaiting a decision (404 when there is none)."""
    found = await open_proposal(session=session, kind=kind, code=code)
    if found is None:
        raise not_found(f"pending {kind} proposal", code)
    return found


async def history(*, session: AsyncSession, kind: str, code: str) -> list[Proposal]:
    """Every proposal for it and its outcome, oldest first."""
    return await versions(
        session=session, model=Proposal, key=_key(kind, code), what=f"{kind} proposal"
    )


async def decide(
    *,
    session: AsyncSession,
    kind: str,
    code: str,
    action: str,
    decider: Principal,
    note: str | None,
    if_match: str | None,
    in_force: str | None,
    apply: Apply,
) -> Proposal:
    """`approve` or `reject` the pending proposal for `code`; `in_force` is the ETag of the
    version in force now (None: none), which an approval that completes it must still find."""
    proposal = (
        await session.execute(
            select(Proposal)
            .where(Proposal.kind == kind, Proposal.code == code, is_current(Proposal))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if proposal is None:
        raise not_found(f"{kind} proposal", code)
    require_match(if_match, etag(proposal))
    if proposal.status != "submitted":
        raise conflict(
            f"no change to {kind} {code!r} awaits a decision (its latest proposal was "
            f"{proposal.status})"
        )
    needs = frozenset(proposal.needs)
    authors = [proposal.proposed_by]
    values: dict[str, Any] = {"changed_by": decider.subject, "note": note}
    if action == "reject":
        if not note:
            raise bad_input("note", "say why you reject it")
        approvals.may_reject(decider, authors=authors, needs=needs, what=kind)
        values["status"] = "rejected"
    else:
        given = approvals.approve(
            decider, authors=authors, needs=needs, approvals=proposal.approvals, what=kind
        )
        values["approvals"] = given
        if approvals.approved(needs, given):
            if in_force != proposal.base:
                raise conflict(
                    f"{kind} {code!r} changed since this proposal was made: approving it would "
                    "undo that change; reject it, or propose it again"
                )
            await apply(proposal, ", ".join(sorted(set(given.values()))))
            values["status"] = "approved"
    decided, _ = await supersede(
        session=session, model=Proposal, key=_key(kind, code), values=values
    )
    return decided
