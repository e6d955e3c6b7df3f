"""`/admin/agreements`: drafts, review (four-eyes), suspension, expiry, history.

Agreement ids contain slashes (`agency/purpose/type`), hence the `:path` routes; the routes
with a suffix are declared before the bare one so that `…/versions` is not read as an id."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response

from gateway.admin.agreements import service
from gateway.admin.agreements.models import (
    AgreementIn,
    AgreementOut,
    AgreementTerms,
    OptionalNote,
    ReviewNote,
)
from gateway.admin.context import Admin
from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.types import CLIENT_ID, PURPOSE_CODE, AgreementIdPath
from gateway.identity.principal import Principal

router = APIRouter(prefix="/agreements", tags=["agreements"])
Status = Literal["draft", "submitted", "approved", "rejected", "suspended", "expired"]
TRANSITION_RESPONSES = responses(404, 409, 412, 428)


@router.get("", responses=responses())
async def list_agreements(
    *,
    admin: AdminDep,
    agency: Annotated[str | None, Query(pattern=CLIENT_ID)] = None,
    purpose: Annotated[str | None, Query(pattern=PURPOSE_CODE)] = None,
    status: Status | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AgreementOut]:
    async with admin.transaction() as session:
        items, after = await service.list_agreements(
            session=session,
            agency=agency,
            purpose=purpose,
            status=status,
            limit=limit,
            cursor=cursor,
        )
    return Page(items=[AgreementOut.of(a) for a in items], next_cursor=after)


@router.post("", status_code=201, responses=responses(409))
async def create_agreement(
    *, new: AgreementIn, admin: AdminDep, steward: StewardDep, response: Response
) -> AgreementOut:
    """A draft; it gives nothing until another steward approves it."""
    async with admin.transaction() as session:
        agreement = await service.create_agreement(
            session=session, schema=admin.schema, new=new, actor=steward.subject
        )
    response.headers["Location"] = f"/admin/agreements/{agreement.agreement_id}"
    tag(response, agreement.version_id)
    return AgreementOut.of(agreement)


@router.get("/{agreement_id:path}/versions", responses=responses(404))
async def agreement_versions(
    *, agreement_id: AgreementIdPath, admin: AdminDep
) -> list[AgreementOut]:
    """Every version, oldest first: who changed what, and when."""
    async with admin.transaction() as session:
        history = await service.agreement_versions(session=session, agreement_id=agreement_id)
    return [AgreementOut.of(a) for a in history]


async def _transition(
    *,
    admin: Admin,
    steward: Principal,
    response: Response,
    agreement_id: str,
    action: str,
    note: str | None,
    if_match: str | None,
) -> AgreementOut:
    async with admin.transaction() as session:
        agreement = await service.transition(
            session=session,
            agreement_id=agreement_id,
            action=action,
            decider=steward,
            note=note,
            if_match=if_match,
        )
    tag(response, agreement.version_id)
    return AgreementOut.of(agreement)


OptionalBody = Annotated[OptionalNote | None, Body()]


@router.post("/{agreement_id:path}/submit", responses=TRANSITION_RESPONSES)
async def submit_agreement(
    *,
    agreement_id: AgreementIdPath,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    body: OptionalBody = None,
    if_match: IfMatch = None,
) -> AgreementOut:
    """For review by another steward (a draft, or a suspended agreement to reinstate)."""
    note = body.note if body else None
    return await _transition(
        admin=admin,
        steward=steward,
        response=response,
        agreement_id=agreement_id,
        action="submit",
        note=note,
        if_match=if_match,
    )


@router.post("/{agreement_id:path}/approve", responses=TRANSITION_RESPONSES)
async def approve_agreement(
    *,
    agreement_id: AgreementIdPath,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    body: OptionalBody = None,
    if_match: IfMatch = None,
) -> AgreementOut:
    """Four-eyes: by a steward who neither drafted nor submitted it (403 otherwise). In force
    from the very next request."""
    note = body.note if body else None
    return await _transition(
        admin=admin,
        steward=steward,
        response=response,
        agreement_id=agreement_id,
        action="approve",
        note=note,
        if_match=if_match,
    )


@router.post("/{agreement_id:path}/reject", responses=TRANSITION_RESPONSES)
async def reject_agreement(
    *,
    agreement_id: AgreementIdPath,
    body: ReviewNote,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> AgreementOut:
    """Four-eyes, like approval; the note says why."""
    return await _transition(
        admin=admin,
        steward=steward,
        response=response,
        agreement_id=agreement_id,
        action="reject",
        note=body.note,
        if_match=if_match,
    )


@router.post("/{agreement_id:path}/suspend", responses=TRANSITION_RESPONSES)
async def suspend_agreement(
    *,
    agreement_id: AgreementIdPath,
    body: ReviewNote,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> AgreementOut:
    """Stops an approved agreement from the very next request; the note says why."""
    return await _transition(
        admin=admin,
        steward=steward,
        response=response,
        agreement_id=agreement_id,
        action="suspend",
        note=body.note,
        if_match=if_match,
    )


@router.post("/{agreement_id:path}/expire", responses=TRANSITION_RESPONSES)
async def expire_agreement(
    *,
    agreement_id: AgreementIdPath,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    body: OptionalBody = None,
    if_match: IfMatch = None,
) -> AgreementOut:
    """Ends it now; editing it later makes a new draft to review."""
    note = body.note if body else None
    return await _transition(
        admin=admin,
        steward=steward,
        response=response,
        agreement_id=agreement_id,
        action="expire",
        note=note,
        if_match=if_match,
    )


@router.get("/{agreement_id:path}", responses=responses(404))
async def read_agreement(
    *, agreement_id: AgreementIdPath, admin: AdminDep, response: Response
) -> AgreementOut:
    async with admin.transaction() as session:
        agreement = await service.get_agreement(session=session, agreement_id=agreement_id)
    tag(response, agreement.version_id)
    return AgreementOut.of(agreement)


@router.patch("/{agreement_id:path}", responses=responses(404, 409, 412, 428))
async def edit_agreement(
    *,
    agreement_id: AgreementIdPath,
    change: AgreementTerms,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> AgreementOut:
    """Changes the terms of a draft, rejected, suspended or expired agreement; it becomes a draft
    again and needs a new review."""
    async with admin.transaction() as session:
        agreement = await service.edit_agreement(
            session=session,
            schema=admin.schema,
            agreement_id=agreement_id,
            change=change,
            actor=steward.subject,
            if_match=if_match,
        )
    tag(response, agreement.version_id)
    return AgreementOut.of(agreement)
