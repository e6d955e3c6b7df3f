"""`/admin/documents`: agency documents proposed, reviewed by the stewards of every registry
they read (four-eyes), suspended, resubmitted, revoked, with their history. A document is named
by its agency and its operation's name: `/admin/documents/{agency}/{name}`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from gateway.admin.agreements.models import OptionalNote
from gateway.admin.context import Admin
from gateway.admin.documents import service
from gateway.admin.documents.models import OPERATION_NAME, DocumentChange, DocumentIn, DocumentOut
from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.types import CLIENT_ID
from gateway.identity.principal import Principal
from gateway.policy.models import AgencyDocument

router = APIRouter(prefix="/documents", tags=["agency documents"])
Status = Literal["submitted", "approved", "rejected", "suspended", "revoked"]
AgencyPath = Annotated[str, Path(pattern=CLIENT_ID, description="The agency's client id.")]
NamePath = Annotated[str, Path(pattern=OPERATION_NAME, description="The operation's name.")]
Note = Annotated[OptionalNote | None, Body()]
DECISION_RESPONSES = responses(403, 404, 409, 412, 428)


def _out(document: AgencyDocument) -> DocumentOut:
    return DocumentOut.of(document, sorted(service.needs(document)))


def _published(admin: Admin) -> frozenset[str]:
    """The names of the documents everyone runs (files and forms'): not an agency's to take."""
    return frozenset(d.name for d in admin.services.trusted if d.owner is None)


@router.get("", responses=responses())
async def list_documents(
    *,
    admin: AdminDep,
    agency: Annotated[str | None, Query(pattern=CLIENT_ID)] = None,
    status: Status | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DocumentOut]:
    async with admin.transaction() as session:
        items, after = await service.list_documents(
            session=session, agency=agency, status=status, limit=limit, cursor=cursor
        )
    return Page(items=[_out(d) for d in items], next_cursor=after)


@router.post("", status_code=201, responses=responses(409))
async def propose_document(
    *, new: DocumentIn, admin: AdminDep, steward: StewardDep, response: Response
) -> DocumentOut:
    """Checked against the schema and the agency's agreements for the purpose (422 naming
    every read no agreement gives), then submitted: the agency runs it once stewards of every
    registry it reads, none of them its proposer, have approved it."""
    async with admin.transaction() as session:
        document = await service.propose(
            session=session,
            schema=admin.schema,
            agency=new.agency,
            purpose=new.purpose,
            text=new.text,
            actor=steward.subject,
            published=_published(admin),
        )
    response.headers["Location"] = f"/admin/documents/{document.document_id}"
    tag(response, document.version_id)
    return _out(document)


@router.get("/{agency}/{name}/versions", responses=responses(404))
async def document_versions(
    *, agency: AgencyPath, name: NamePath, admin: AdminDep
) -> list[DocumentOut]:
    """Every version, oldest first: who proposed, approved, suspended or revoked it, and when."""
    async with admin.transaction() as session:
        history = await service.document_versions(session=session, agency=agency, name=name)
    return [_out(d) for d in history]


@router.get("/{agency}/{name}", responses=responses(404))
async def read_document(
    *, agency: AgencyPath, name: NamePath, admin: AdminDep, response: Response
) -> DocumentOut:
    async with admin.transaction() as session:
        document = await service.get_document(session=session, agency=agency, name=name)
    tag(response, document.version_id)
    return _out(document)


@router.put("/{agency}/{name}", responses=responses(404, 409, 412, 428))
async def change_document(
    *,
    agency: AgencyPath,
    name: NamePath,
    change: DocumentChange,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> DocumentOut:
    """A new text (keeping the operation's name): a new proposal, checked and reviewed afresh;
    the agency runs nothing under this name until it is approved."""
    async with admin.transaction() as session:
        document = await service.change(
            session=session,
            schema=admin.schema,
            agency=agency,
            name=name,
            purpose=change.purpose,
            text=change.text,
            actor=steward.subject,
            if_match=if_match,
            published=_published(admin),
        )
    tag(response, document.version_id)
    return _out(document)


async def _decide(
    admin: Admin,
    steward: Principal,
    response: Response,
    *,
    agency: str,
    name: str,
    action: str,
    body: OptionalNote | None,
    if_match: str | None,
) -> DocumentOut:
    async with admin.transaction() as session:
        document = await service.decide(
            session=session,
            schema=admin.schema,
            agency=agency,
            name=name,
            action=action,
            decider=steward,
            note=body.note if body else None,
            if_match=if_match,
        )
    tag(response, document.version_id)
    return _out(document)


def _decision(action: str, summary: str) -> None:
    async def decision(
        *,
        agency: AgencyPath,
        name: NamePath,
        admin: AdminDep,
        steward: StewardDep,
        response: Response,
        body: Note = None,
        if_match: IfMatch = None,
    ) -> DocumentOut:
        return await _decide(
            admin,
            steward,
            response,
            agency=agency,
            name=name,
            action=action,
            body=body,
            if_match=if_match,
        )

    decision.__name__ = f"{action}_document"
    router.post(
        f"/{{agency}}/{{name}}/{action}", responses=DECISION_RESPONSES, description=summary
    )(decision)


_decision(
    "approve",
    "By a steward of a registry the document reads who did not propose it (403 `four_eyes` or "
    "`scope` otherwise); approved once every such registry has approved, in force from the next "
    "request in every process. 409 if its agreements no longer give what it reads.",
)
_decision("reject", "Like approval, by a steward of a registry it reads; `note` says why.")
_decision("suspend", "An approved document stops running from the next request; `note` says why.")
_decision("resubmit", "A rejected or suspended document, for review afresh.")
_decision("revoke", "For good: the agency never runs it again; `note` says why.")
