"""Purposes in the console: the catalogue, a proposal (a new purpose, or a change to one in force)
and the decision another steward takes on it, with a note.

Every rule is the admin API's (gateway/admin/purposes/service.py, proposals.py, approvals.py):
the input shapes of gateway/admin/purposes/models.py, four-eyes, the platform's scope, the ETag
a decision names. The pages turn a form into those shapes and show what they refuse as said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from gateway.admin.agreements.models import OptionalNote
from gateway.admin.http import etag
from gateway.admin.problems import Problem, bad_input, not_found
from gateway.admin.purposes import proposals, service
from gateway.admin.purposes.models import PurposeChange, PurposeIn
from gateway.admin.purposes.service import PURPOSE
from gateway.admin.types import PURPOSE_CODE
from gateway.console.context import Console
from gateway.console.inputs import GENERAL
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.policy.models import Proposal

router = APIRouter(prefix="/purposes")
INPUTS = frozenset({"code", "title", "procedure", "case_bound"})
DONE = {"proposed", "approved", "rejected"}
ACTIONS = {"approve": "approved", "reject": "rejected"}
Cursor = Annotated[str | None, Query(max_length=500)]


@dataclass
class PurposeDraft:
    """What the form shows: the values as typed and the errors by input."""

    code: str = ""
    title: str = ""
    procedure: str = ""
    case_bound: bool = False
    version: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    def error(self, argument: str, message: str) -> None:
        self.errors.setdefault(argument if argument in INPUTS else GENERAL, []).append(message)

    @classmethod
    def posted(cls, form: FormData) -> PurposeDraft:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        return cls(code=text("code"), title=text("title"), procedure=text("procedure"),
                   case_bound=form.get("case_bound") == "on", version=text("version"))  # fmt: skip

    def shape_errors(self, invalid: ValidationError) -> None:
        for item in invalid.errors():
            location = [str(part) for part in item.get("loc", ())]
            self.error(location[0] if location else GENERAL, str(item.get("msg", "invalid")))

    def problem(self, refused: Problem) -> None:
        self.error(str(refused.extensions.get("argument", GENERAL)), refused.detail)


def checked_code(code: str) -> str:
    if not re.fullmatch(PURPOSE_CODE, code):
        raise not_found(PURPOSE, code)
    return code


def note_of(form: FormData) -> str | None:
    """The decision's note as typed, checked as the admin API's shape of a note checks it."""
    typed = form.get("note")
    note = typed.strip() if isinstance(typed, str) and typed.strip() else None
    try:
        OptionalNote.model_validate({"note": note})
    except ValidationError as invalid:
        raise bad_input("note", str(invalid.errors()[0].get("msg", "invalid"))) from invalid
    return note


async def proposal_history(session: AsyncSession, kind: str, code: str) -> list[Proposal]:
    """Every proposal for a purpose or form and its outcome (none for one never changed)."""
    try:
        return await proposals.history(session=session, kind=kind, code=code)
    except Problem as none:
        if none.status != 404:
            raise
        return []


# -- the list and a new purpose -----------------------------------------------------------------


@router.get("")
async def list_purposes(
    *, request: Request, console: ConsoleDep, _session: StewardSession, cursor: Cursor = None
) -> Response:
    async with console.admin.transaction() as session:
        items, after = await service.list_purposes(session=session, limit=50, cursor=cursor)
    return render(request, "purposes.html", nav="purposes", items=items, after=after)


def _form_page(request: Request, draft: PurposeDraft, *, status: int) -> Response:
    return render(request, "purposes_form.html", status=status, nav="purposes", draft=draft,
                  general=GENERAL)  # fmt: skip


@router.get("/new")
async def new_purpose(*, request: Request, _session: StewardSession) -> Response:
    return _form_page(request, PurposeDraft(), status=200)


@router.post("/new")
async def propose_purpose(
    request: Request, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    draft = PurposeDraft.posted(form)
    try:
        shape = PurposeIn.model_validate({"code": draft.code, "title": draft.title,
                                          "procedure": draft.procedure,
                                          "case_bound": draft.case_bound})  # fmt: skip
    except ValidationError as invalid:
        draft.shape_errors(invalid)
        return _form_page(request, draft, status=422)
    try:
        async with console.admin.transaction() as session:
            await service.propose_purpose(session=session, new=shape, actor=steward.subject)
    except Problem as refused:
        draft.problem(refused)
        return _form_page(request, draft, status=refused.status)
    return redirect(f"/console/purposes/{shape.code}?done=proposed")


# -- one purpose: its proposal, a change, the decision ----------------------------------------


async def _purpose_page(
    request: Request,
    console: Console,
    code: str,
    *,
    status: int = 200,
    draft: PurposeDraft | None = None,
    refusal: Problem | None = None,
    note: str = "",
) -> Response:
    async with console.admin.transaction() as session:
        standing = await service.get_purpose(session=session, code=code)
        history = await proposal_history(session, PURPOSE, code)
    in_force = standing.in_force
    if draft is None:
        draft = PurposeDraft(code=code)
        if in_force is not None:
            draft = PurposeDraft(code=code, title=in_force.title, procedure=in_force.procedure,
                                 case_bound=in_force.case_bound,
                                 version=str(in_force.version_id))  # fmt: skip
    done = request.query_params.get("done")
    return render(request, "purposes_one.html", status=status, nav="purposes", code=code,
                  in_force=in_force, pending=standing.pending, history=history, draft=draft,
                  general=GENERAL, refusal=refusal, note=note,
                  proposal_etag=proposals.etag(standing.pending) if standing.pending else "",
                  done=done if done in DONE else None,
                  language_path=f"/console/purposes/{code}")  # fmt: skip


@router.post("/{code}/edit")
async def propose_change(
    *, request: Request, code: str, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    draft = PurposeDraft.posted(form)
    draft.code = checked_code(code)
    try:
        change = PurposeChange.model_validate({"title": draft.title, "procedure": draft.procedure,
                                               "case_bound": draft.case_bound})  # fmt: skip
    except ValidationError as invalid:
        draft.shape_errors(invalid)
        return await _purpose_page(request, console, code, status=422, draft=draft)
    try:
        async with console.admin.transaction() as session:
            await service.propose_purpose_change(
                session=session, code=code, change=change, actor=steward.subject,
                if_match=etag(int(draft.version)) if draft.version.isdigit() else None,
            )  # fmt: skip
    except Problem as refused:
        draft.problem(refused)
        return await _purpose_page(request, console, code, status=refused.status, draft=draft)
    return redirect(f"/console/purposes/{code}?done=proposed")


@router.post("/{code}/{action}")
async def decide(
    *,
    request: Request,
    code: str,
    action: str,
    console: ConsoleDep,
    steward: StewardDep,
    form: FormDep,
) -> Response:
    """Approve or reject the pending proposal the page showed (its ETag): the service's decision,
    its refusal (four-eyes, scope, a stale proposal) shown on the page."""
    if action not in ACTIONS:
        raise not_found("action", action)
    checked_code(code)
    typed = form.get("note")
    note = typed.strip() if isinstance(typed, str) else ""
    proposal = form.get("proposal")
    try:
        checked = note_of(form)
        async with console.admin.transaction() as session:
            await service.decide_purpose(
                session=session, code=code, action=action, decider=steward, note=checked,
                if_match=proposal if isinstance(proposal, str) and proposal else None,
            )  # fmt: skip
    except Problem as refused:
        return await _purpose_page(request, console, code, status=refused.status,
                                   refusal=refused, note=note)  # fmt: skip
    return redirect(f"/console/purposes/{code}?done={ACTIONS[action]}")


@router.get("/{code}")
async def one_purpose(
    *, request: Request, code: str, console: ConsoleDep, _session: StewardSession
) -> Response:
    return await _purpose_page(request, console, checked_code(code))
