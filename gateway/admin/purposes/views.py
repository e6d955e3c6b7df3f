"""`/admin/purposes` and `/admin/forms`: the purpose catalogue and the prefill form templates,
each changed by a proposal that another steward approves (four-eyes) before it is in force."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from gateway.admin.agreements.models import OptionalNote, ReviewNote
from gateway.admin.context import Admin
from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import not_found, responses
from gateway.admin.purposes import proposals, service
from gateway.admin.purposes.models import (
    FormIn,
    FormOut,
    FormProposalOut,
    PurposeChange,
    PurposeIn,
    PurposeOut,
    PurposeProposalOut,
)
from gateway.admin.purposes.service import FORM, PURPOSE, FormStanding, PurposeStanding
from gateway.admin.types import FormPath, PurposePath
from gateway.identity.principal import Principal

router = APIRouter(tags=["purposes and forms"])
DECISION_RESPONSES = responses(404, 409, 412, 428)
OptionalBody = Annotated[OptionalNote | None, Body()]


def _purpose_out(standing: PurposeStanding) -> PurposeOut:
    if standing.in_force is not None:
        return PurposeOut.of(standing.in_force, standing.pending)
    if standing.pending is None:  # the service finds none such: in force, proposed, or both
        raise not_found(PURPOSE, standing.code)
    return PurposeOut.proposed(standing.pending)


@router.get("/purposes", responses=responses())
async def list_purposes(
    *, admin: AdminDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[PurposeOut]:
    """Purposes in force (`status: in_force`, with `pending`: the change awaiting approval) and
    new purposes only proposed (`status: proposed`), by code."""
    async with admin.transaction() as session:
        items, after = await service.list_purposes(session=session, limit=limit, cursor=cursor)
    return Page(items=[_purpose_out(p) for p in items], next_cursor=after)


@router.post("/purposes", status_code=202, responses=responses(409))
async def propose_purpose(
    *, new: PurposeIn, admin: AdminDep, steward: StewardDep, response: Response
) -> PurposeProposalOut:
    """Proposes a new purpose; it is in the catalogue once the platform's administrator (role
    `admin`, not the proposer) approves it."""
    async with admin.transaction() as session:
        proposal = await service.propose_purpose(session=session, new=new, actor=steward.subject)
    response.headers["Location"] = f"/admin/purposes/{proposal.code}/proposal"
    proposals.tag(response, proposal)
    return PurposeProposalOut.of(proposal)


@router.get("/purposes/{code}", responses=responses(404))
async def read_purpose(*, code: PurposePath, admin: AdminDep, response: Response) -> PurposeOut:
    """The purpose in force (its ETag is the version's), or only proposed (no ETag)."""
    async with admin.transaction() as session:
        standing = await service.get_purpose(session=session, code=code)
    if standing.in_force is not None:
        tag(response, standing.in_force.version_id)
    return _purpose_out(standing)


@router.get("/purposes/{code}/versions", responses=responses(404))
async def purpose_versions(*, code: PurposePath, admin: AdminDep) -> list[PurposeOut]:
    """Every version that was in force, oldest first: who proposed it (`changed_by`) and who
    approved it (`approved_by`)."""
    async with admin.transaction() as session:
        return [
            PurposeOut.of(p) for p in await service.purpose_versions(session=session, code=code)
        ]


@router.patch("/purposes/{code}", status_code=202, responses=responses(404, 412, 428))
async def propose_purpose_change(
    *,
    code: PurposePath,
    change: PurposeChange,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> PurposeProposalOut:
    """Proposes a change to the purpose in force (If-Match: its ETag); the version in force
    stays until the platform's administrator approves it. It replaces a pending proposal."""
    async with admin.transaction() as session:
        proposal = await service.propose_purpose_change(
            session=session, code=code, change=change, actor=steward.subject, if_match=if_match
        )
    proposals.tag(response, proposal)
    return PurposeProposalOut.of(proposal)


@router.get("/purposes/{code}/proposal", responses=responses(404))
async def read_purpose_proposal(
    *, code: PurposePath, admin: AdminDep, response: Response
) -> PurposeProposalOut:
    """The change awaiting approval; its ETag is what approving or rejecting it names."""
    async with admin.transaction() as session:
        proposal = await proposals.pending(session=session, kind=PURPOSE, code=code)
    proposals.tag(response, proposal)
    return PurposeProposalOut.of(proposal)


@router.get("/purposes/{code}/proposals", responses=responses(404))
async def purpose_proposals(*, code: PurposePath, admin: AdminDep) -> list[PurposeProposalOut]:
    """Every proposal and decision, oldest first: who proposed, who approved or rejected, why."""
    async with admin.transaction() as session:
        found = await proposals.history(session=session, kind=PURPOSE, code=code)
    return [PurposeProposalOut.of(p) for p in found]


async def _decide_purpose(
    *,
    admin: Admin,
    steward: Principal,
    response: Response,
    code: str,
    action: str,
    note: str | None,
    if_match: str | None,
) -> PurposeProposalOut:
    async with admin.transaction() as session:
        proposal = await service.decide_purpose(
            session=session,
            code=code,
            action=action,
            decider=steward,
            note=note,
            if_match=if_match,
        )
    proposals.tag(response, proposal)
    return PurposeProposalOut.of(proposal)


@router.post("/purposes/{code}/approve", responses=DECISION_RESPONSES)
async def approve_purpose(
    *,
    code: PurposePath,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    body: OptionalBody = None,
    if_match: IfMatch = None,
) -> PurposeProposalOut:
    """Puts the pending proposal (If-Match: its ETag) in force: the platform's administrator,
    not its proposer (403 `scope`, `four_eyes`). In force from the very next request."""
    return await _decide_purpose(admin=admin, steward=steward, response=response, code=code,
                                 action="approve", note=body.note if body else None,
                                 if_match=if_match)  # fmt: skip


@router.post("/purposes/{code}/reject", responses=DECISION_RESPONSES)
async def reject_purpose(
    *,
    code: PurposePath,
    body: ReviewNote,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> PurposeProposalOut:
    """Rejects the pending proposal, saying why; decided like an approval."""
    return await _decide_purpose(admin=admin, steward=steward, response=response, code=code,
                                 action="reject", note=body.note, if_match=if_match)  # fmt: skip


def _form_out(standing: FormStanding) -> FormOut:
    pending = FormProposalOut.of(standing.pending) if standing.pending is not None else None
    if standing.document is None:
        if pending is None:  # the service finds none such: in force, proposed, or both
            raise not_found(FORM, standing.code)
        return FormOut.model_validate({**pending.proposed.model_dump(), "code": standing.code,
                                       "source": "steward", "status": "proposed",
                                       "pending": pending})  # fmt: skip
    template = standing.template
    return FormOut.model_validate(
        {
            **standing.document,
            "code": standing.code,
            "source": standing.source,
            "changed_by": template.changed_by if template is not None else None,
            "approved_by": template.approved_by if template is not None else None,
            "pending": pending,
        }
    )


@router.get("/forms", responses=responses())
async def list_forms(*, admin: AdminDep) -> list[FormOut]:
    """Forms in force (`status: in_force`, with `pending`: the change awaiting approval) and
    new forms only proposed (`status: proposed`), by code."""
    async with admin.transaction() as session:
        found = await service.list_forms(session=session)
    return [_form_out(standing) for standing in found]


@router.get("/forms/{code}", responses=responses(404))
async def read_form(*, code: FormPath, admin: AdminDep, response: Response) -> FormOut:
    """The form in force (its ETag a digest of the template), or only proposed (no ETag)."""
    async with admin.transaction() as session:
        standing = await service.get_form(session=session, code=code)
    if standing.document is not None:
        response.headers["ETag"] = service.form_etag(standing.document)
    return _form_out(standing)


@router.put("/forms/{code}", status_code=202, responses=responses(412, 428))
async def propose_form(
    *,
    code: FormPath,
    form: FormIn,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> FormProposalOut:
    """Proposes a new template for the form (If-Match: the ETag of the form in force, when
    there is one). It is compiled against the GraphQL schema first (422 with the reason); the
    form in force stays until a steward of every registry it reads (`needs`), not its
    proposer, approves it. It replaces a pending proposal."""
    async with admin.transaction() as session:
        proposal = await service.propose_form(
            session=session,
            schema=admin.schema,
            code=code,
            form=form,
            actor=steward.subject,
            if_match=if_match,
        )
    response.headers["Location"] = f"/admin/forms/{code}/proposal"
    proposals.tag(response, proposal)
    return FormProposalOut.of(proposal)


@router.get("/forms/{code}/proposal", responses=responses(404))
async def read_form_proposal(
    *, code: FormPath, admin: AdminDep, response: Response
) -> FormProposalOut:
    """The change awaiting approval; its ETag is what approving or rejecting it names."""
    async with admin.transaction() as session:
        proposal = await proposals.pending(session=session, kind=FORM, code=code)
    proposals.tag(response, proposal)
    return FormProposalOut.of(proposal)


@router.get("/forms/{code}/proposals", responses=responses(404))
async def form_proposals(*, code: FormPath, admin: AdminDep) -> list[FormProposalOut]:
    """Every proposal and decision, oldest first: who proposed, who approved or rejected, why."""
    async with admin.transaction() as session:
        found = await proposals.history(session=session, kind=FORM, code=code)
    return [FormProposalOut.of(p) for p in found]


async def _decide_form(
    *,
    admin: Admin,
    steward: Principal,
    response: Response,
    code: str,
    action: str,
    note: str | None,
    if_match: str | None,
) -> FormProposalOut:
    async with admin.transaction() as session:
        proposal = await service.decide_form(
            session=session,
            schema=admin.schema,
            code=code,
            action=action,
            decider=steward,
            note=note,
            if_match=if_match,
        )
    if proposal.status == "approved":
        # Committed: this process runs the form (and its document) from now on, the others
        # from their next request (the approval moved the policy version: gateway.graph.catalogue)
        await admin.services.catalogues.reload()
    proposals.tag(response, proposal)
    return FormProposalOut.of(proposal)


@router.post("/forms/{code}/approve", responses=DECISION_RESPONSES)
async def approve_form(
    *,
    code: FormPath,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    body: OptionalBody = None,
    if_match: IfMatch = None,
) -> FormProposalOut:
    """Approves the pending proposal (If-Match: its ETag) for every registry the steward
    stewards among those it still needs; once all have approved, the form is in force from the
    very next request, in every process (403 `scope`, `four_eyes`; 409 if the form in force
    changed since it was proposed)."""
    return await _decide_form(admin=admin, steward=steward, response=response, code=code,
                              action="approve", note=body.note if body else None,
                              if_match=if_match)  # fmt: skip


@router.post("/forms/{code}/reject", responses=DECISION_RESPONSES)
async def reject_form(
    *,
    code: FormPath,
    body: ReviewNote,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> FormProposalOut:
    """Rejects the pending proposal, saying why; decided like an approval."""
    return await _decide_form(admin=admin, steward=steward, response=response, code=code,
                              action="reject", note=body.note, if_match=if_match)  # fmt: skip
