"""Consents in the console: found by subject (personal ID) or by agency, and a consent the
citizen signed on paper at a counter recorded as the admin API records one.

The search, its rules and the paper consent's checks are the admin API's
(gateway/admin/consents/service.py, its shapes in gateway/admin/consents/models.py). A page
that lists consents shows personal data: each view is recorded in the access log exactly as the
API's read is (`Admin.record_read`, read `consents`, under the resident when one is searched
for, so the citizen sees it), durably before the page leaves. The admin API cannot revoke a
citizen's consent (only the citizen can), so neither can the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from gateway.admin.consents import service
from gateway.admin.consents.models import PaperConsentIn, PersonalId
from gateway.admin.problems import Problem
from gateway.admin.types import ClientId
from gateway.console.context import Console
from gateway.console.inputs import GENERAL, Entry, agency_and_purpose_choices, schema_choices
from gateway.console.web import ConsoleDep, FormDep, StewardDep, redirect, render
from gateway.identity.principal import Principal
from registries.history import VIETNAM_TIME

router = APIRouter(prefix="/consents")
SEARCH_INPUTS = ("subject_id", "agency")
PAPER_INPUTS = ("subject_id", "agency", "purpose", "fields", "expires_at", "officer",
                "document_reference")  # fmt: skip
LABELS = {name: f"consents.{name}" for name in (*PAPER_INPUTS, "cursor")}
SearchText = Annotated[str | None, Query(max_length=100)]
_PERSONAL_ID = TypeAdapter(PersonalId)
_CLIENT_ID = TypeAdapter(ClientId)


def _checked(entry: Entry, name: str, adapter: TypeAdapter[str]) -> str | None:
    """The typed value if the API's shape takes it (None when empty); else its error."""
    value = entry.value(name)
    if not value:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError as invalid:
        entry.error(name, str(invalid.errors()[0].get("msg", "invalid")))
        return None


@router.get("")
async def search(
    *,
    request: Request,
    console: ConsoleDep,
    steward: StewardDep,
    subject_id: SearchText = None,
    agency: SearchText = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The search form; once searched, the consents found, newest first (revoked ones too)."""
    entry = Entry(inputs=(*SEARCH_INPUTS, "cursor"),
                  values={"subject_id": (subject_id or "").strip(),
                          "agency": (agency or "").strip()})  # fmt: skip
    searched = subject_id is not None or agency is not None
    if not searched:
        return _search_page(request, entry, items=None, after=None, status=200)
    subject = _checked(entry, "subject_id", _PERSONAL_ID)
    client = _checked(entry, "agency", _CLIENT_ID)
    if entry.errors:
        return _search_page(request, entry, items=None, after=None, status=422)
    try:
        async with console.admin.transaction() as session:
            items, after = await service.list_consents(
                session=session, subject_id=subject, agency=client, limit=50, cursor=cursor
            )
    except Problem as refused:  # neither a subject nor an agency; a cursor not handed out
        entry.refused(refused)
        return _search_page(request, entry, items=None, after=None, status=refused.status)
    await _record_view(console, steward, subject=subject, agency=client, cursor=cursor,
                       returned=len(items))  # fmt: skip
    return _search_page(request, entry, items=items, after=after, status=200)


async def _record_view(
    console: Console,
    steward: Principal,
    *,
    subject: str | None,
    agency: str | None,
    cursor: str | None,
    returned: int,
) -> None:
    """The page's disclosure, as the admin API logs its consents read."""
    await console.admin.record_read(
        steward=steward,
        read="consents",
        filters={"subject_id": subject, "agency": agency, "cursor": cursor is not None},
        returned=returned,
        subject=("resident", subject) if subject else None,
    )


def _search_page(
    request: Request,
    entry: Entry,
    *,
    items: Sequence[object] | None,
    after: str | None,
    status: int,
) -> Response:
    done = request.query_params.get("done")
    return render(request, "consents.html", status=status, nav="consents", entry=entry,
                  items=items, after=after, labels=LABELS, general=GENERAL,
                  done=done if done == "recorded" else None)  # fmt: skip


# -- a consent signed on paper -------------------------------------------------------------------


async def _paper_page(
    request: Request, console: Console, entry: Entry, fields: list[str], *, status: int
) -> Response:
    async with console.admin.transaction() as session:
        agencies, purposes = await agency_and_purpose_choices(session)
    # what check_fields takes for a consent
    schema_fields, _ = schema_choices(console.admin.schema, "Resident")
    return render(request, "consents_paper.html", status=status, nav="consents", entry=entry,
                  chosen_fields=fields, agencies=agencies, purposes=purposes,
                  schema_fields=schema_fields, labels=LABELS, general=GENERAL)  # fmt: skip


@router.get("/paper")
async def paper_form(*, request: Request, console: ConsoleDep, _steward: StewardDep) -> Response:
    return await _paper_page(request, console, Entry(inputs=PAPER_INPUTS), [], status=200)


def _expiry(entry: Entry) -> datetime | str:
    """The last day the consent holds (Vietnam time): it expires when that day ends."""
    typed = entry.value("expires_at")
    try:
        day = date.fromisoformat(typed)
    except ValueError:
        return typed  # the shape says what is wrong with it
    return datetime.combine(day + timedelta(days=1), time.min, VIETNAM_TIME)


@router.post("/paper")
async def record_paper(
    request: Request, console: ConsoleDep, _steward: StewardDep, form: FormDep
) -> Response:
    entry = Entry.posted(form, PAPER_INPUTS)
    fields = [str(value) for value in form.getlist("fields")]
    try:
        paper = PaperConsentIn.model_validate(
            {**entry.values, "fields": fields, "expires_at": _expiry(entry)}
        )
    except ValidationError as invalid:
        entry.shape_errors(invalid)
        return await _paper_page(request, console, entry, fields, status=422)
    try:
        async with console.admin.transaction() as session:
            await service.record_paper_consent(
                session=session, schema=console.admin.schema, paper=paper
            )
    except Problem as refused:
        entry.refused(refused)
        return await _paper_page(request, console, entry, fields, status=refused.status)
    return redirect(f"/console/consents?subject_id={paper.subject_id}&done=recorded")
