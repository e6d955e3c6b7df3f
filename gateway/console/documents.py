"""Agency documents in the console: the review queue, one document's text with what it reads and
which agreement gives each read (the coverage rule of gateway/graph/reach.py, over the agency's
agreements for the document's purpose), and the review's steps — approve, reject, suspend,
resubmit, revoke — each taken by the admin API's service (gateway/admin/documents/service.py,
gateway/admin/review.py: four-eyes, the registries' scopes, the ETag), its refusal shown as said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from graphql import GraphQLError, parse

from gateway.admin.documents import service
from gateway.admin.documents.models import OPERATION_NAME
from gateway.admin.http import etag
from gateway.admin.problems import Problem, not_found
from gateway.admin.review import STEPS
from gateway.admin.types import CLIENT_ID
from gateway.console.context import Console
from gateway.console.purposes import note_of
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.graph.reach import ReachError, covering, reads, uncovered
from gateway.policy.service import agreements_in_scope

router = APIRouter(prefix="/documents")
STATUSES = ("submitted", "approved", "rejected", "suspended", "revoked")
DONE = {step.to for step in STEPS.values()}
Status = Annotated[str | None, Query(pattern=rf"^({'|'.join(STATUSES)})?$")]
Cursor = Annotated[str | None, Query(max_length=500)]


@dataclass(frozen=True)
class Reached:
    """One read of the document, and the agreement in force that gives it (None: none does)."""

    read: str
    agreement: str | None


def _checked(agency: str, name: str) -> None:
    if not re.fullmatch(CLIENT_ID, agency) or not re.fullmatch(OPERATION_NAME, name):
        raise not_found(service.WHAT, f"{agency}/{name}")


@router.get("")
async def review_queue(
    *,
    request: Request,
    console: ConsoleDep,
    _session: StewardSession,
    status: Status = "submitted",
    cursor: Cursor = None,
) -> Response:
    """Submitted documents first (the queue); any status, or all, on request."""
    async with console.admin.transaction() as session:
        items, after = await service.list_documents(
            session=session, agency=None, status=status or None, limit=50, cursor=cursor
        )
    return render(request, "documents.html", nav="documents", items=items, after=after,
                  statuses=STATUSES, chosen=status or "",
                  needs={d.document_id: sorted(service.needs(d)) for d in items})  # fmt: skip


async def _document_page(
    request: Request,
    console: Console,
    agency: str,
    name: str,
    *,
    status: int = 200,
    refusal: Problem | None = None,
    note: str = "",
) -> Response:
    async with console.admin.transaction() as session:
        document = await service.get_document(session=session, agency=agency, name=name)
        history = await service.document_versions(session=session, agency=agency, name=name)
        terms = await agreements_in_scope(session=session, agency=agency, purpose=document.purpose)
    reached: list[Reached] = []
    unreadable = None
    try:
        wanted = reads(console.admin.schema, parse(document.text))
    except (GraphQLError, ReachError) as error:  # an old text the rules of today refuse
        unreadable, wanted = str(error), frozenset()
    missing = set(uncovered(wanted, terms, datetime.now(UTC)))
    for read in sorted(wanted):
        found = covering(read, terms) if str(read) not in missing else None
        given = next((a.agreement_id for a in terms if a is found), None)
        reached.append(Reached(str(read), given))
    done = request.query_params.get("done")
    steps = [action for action, step in STEPS.items() if document.status in step.allowed_from]
    return render(request, "documents_one.html", status=status, nav="documents",
                  document=document, history=history, reached=reached, unreadable=unreadable,
                  needs=sorted(service.needs(document)), steps=steps, refusal=refusal,
                  note=note, done=done if done in DONE else None,
                  language_path=f"/console/documents/{agency}/{name}")  # fmt: skip


@router.post("/{agency}/{name}/{action}")
async def decide(
    *,
    request: Request,
    agency: str,
    name: str,
    action: str,
    console: ConsoleDep,
    steward: StewardDep,
    form: FormDep,
) -> Response:
    if action not in STEPS:
        raise not_found("action", action)
    _checked(agency, name)
    typed = form.get("note")
    version = form.get("version")
    try:
        note = note_of(form)
        async with console.admin.transaction() as session:
            decided = await service.decide(
                session=session, schema=console.admin.schema, agency=agency, name=name,
                action=action, decider=steward, note=note,
                if_match=etag(int(version)) if isinstance(version, str) and version.isdigit()
                else None,
            )  # fmt: skip
    except Problem as refused:
        said = typed.strip() if isinstance(typed, str) else ""
        return await _document_page(request, console, agency, name, status=refused.status,
                                    refusal=refused, note=said)  # fmt: skip
    return redirect(f"/console/documents/{agency}/{name}?done={decided.status}")


@router.get("/{agency}/{name}")
async def one_document(
    *, request: Request, agency: str, name: str, console: ConsoleDep, _session: StewardSession
) -> Response:
    _checked(agency, name)
    return await _document_page(request, console, agency, name)
