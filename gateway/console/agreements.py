"""Agreements in the console: the list, a draft (fields chosen from the schema of the subject
type, `via` relations, masks, legal basis, consent, validity, quota), an edit, submission, and the
review — the change against the version in force — where another steward approves or rejects it.

Every rule is the admin API's: the input shapes (gateway/admin/agreements/models.py), the checks
against the schema and the four-eyes and scope rules (gateway/admin/agreements/service.py,
gateway/admin/approvals.py). The pages turn a form into those shapes and show what they refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from gateway.admin.agreements import service
from gateway.admin.agreements.models import AgreementIn, AgreementTerms, OptionalNote
from gateway.admin.http import etag
from gateway.admin.problems import Problem, bad_input, not_found
from gateway.admin.types import AGREEMENT_ID, CLIENT_ID, PURPOSE_CODE
from gateway.console.context import HOMES, STEWARD, Console
from gateway.console.inputs import GENERAL, agency_and_purpose_choices, schema_choices
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.graph.masking import MASKS
from gateway.policy.models import Agreement
from gateway.subjects import SUBJECT_KINDS
from registries.history import VIETNAM_TIME

router = APIRouter(prefix="/agreements")
STATUSES = ("draft", "submitted", "approved", "rejected", "suspended", "expired")
DONE = {"saved", "submitted", "approved", "rejected", "suspended"}
# What each page's buttons may do (the service decides whether they may, and says why not)
ACTIONS = {
    "submit": "submitted",
    "approve": "approved",
    "reject": "rejected",
    "suspend": "suspended",
}

AgencyQuery = Annotated[str | None, Query(pattern=CLIENT_ID)]
PurposeQuery = Annotated[str | None, Query(pattern=PURPOSE_CODE)]
TypeQuery = Annotated[str | None, Query(max_length=40)]


# -- the form --------------------------------------------------------------------------------


@dataclass
class Draft:
    """What the form shows: the values typed (strings, as typed) and the errors by input."""

    agency: str = ""
    purpose: str = ""
    subject_type: str = ""
    fields: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    masking: dict[str, str] = field(default_factory=dict)
    legal_basis: str = ""
    legal_reference: str = ""
    consent_required: bool = False
    effective_from: str = ""
    effective_to: str = ""
    daily_quota: str = ""
    version: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    def error(self, argument: str, message: str) -> None:
        self.errors.setdefault(argument if argument in FORM_INPUTS else GENERAL, []).append(message)

    @classmethod
    def of(cls, agreement: Agreement) -> Draft:
        return cls(
            agency=agreement.agency,
            purpose=agreement.purpose,
            subject_type=agreement.subject_type,
            fields=list(agreement.fields),
            via=list(agreement.via or []),
            masking=dict(agreement.masking or {}),
            legal_basis=agreement.legal_basis,
            legal_reference=agreement.legal_reference or "",
            consent_required=agreement.consent_required,
            effective_from=_date_text(agreement.effective_from),
            effective_to=_date_text(agreement.effective_to),
            daily_quota=str(agreement.daily_quota or ""),
            version=str(agreement.version_id),
        )

    @classmethod
    def posted(cls, form: FormData) -> Draft:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        fields = [str(v) for v in form.getlist("fields")]
        masks = {
            name.removeprefix("mask."): str(value)
            for name, value in form.multi_items()
            if name.startswith("mask.") and isinstance(value, str) and value
        }
        return cls(
            agency=text("agency"),
            purpose=text("purpose"),
            subject_type=text("subject_type"),
            fields=fields,
            via=[str(v) for v in form.getlist("via")],
            masking=masks,
            legal_basis=text("legal_basis"),
            legal_reference=text("legal_reference"),
            consent_required=form.get("consent_required") == "on",
            effective_from=text("effective_from"),
            effective_to=text("effective_to"),
            daily_quota=text("daily_quota"),
            version=text("version"),
        )

    def terms(self) -> dict[str, Any]:
        """The terms as the admin API's shapes take them; input that is not even a date or a
        number is an error here (the shapes then check the rest)."""
        return {
            "fields": self.fields,
            "via": self.via or None,
            "masking": self.masking,
            "legal_basis": self.legal_basis,
            "legal_reference": self.legal_reference or None,
            "consent_required": self.consent_required,
            "effective_from": self._instant("effective_from", self.effective_from),
            "effective_to": self._instant("effective_to", self.effective_to) or None,
            "daily_quota": self._quota(),
        }

    def _instant(self, name: str, value: str) -> datetime | str | None:
        if not value:
            return None if name == "effective_to" else ""
        try:
            return datetime.combine(date.fromisoformat(value), time.min, VIETNAM_TIME)
        except ValueError:
            self.error(name, f"{value!r} is not a date (YYYY-MM-DD)")
            return None

    def _quota(self) -> int | str | None:
        if not self.daily_quota:
            return None
        try:
            return int(self.daily_quota)
        except ValueError:
            self.error("daily_quota", f"{self.daily_quota!r} is not a whole number")
            return None


FORM_INPUTS = frozenset(
    {"agency", "purpose", "subject_type", "fields", "via", "masking", "legal_basis",
     "legal_reference", "consent_required", "effective_from", "effective_to", "daily_quota"}
)  # fmt: skip


def _date_text(value: datetime | None) -> str:
    return value.astimezone(VIETNAM_TIME).date().isoformat() if value else ""


def _shape_errors(draft: Draft, error: ValidationError) -> None:
    already = set(draft.errors)  # what was not even a date or a number: said once
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        argument = location[0] if location else GENERAL
        if argument in already:
            continue
        where = f" ({'.'.join(location[1:])})" if len(location) > 1 else ""
        draft.error(argument, f"{item.get('msg', 'invalid')}{where}")


def _problem_error(draft: Draft, problem: Problem) -> None:
    draft.error(str(problem.extensions.get("argument", GENERAL)), problem.detail)


async def _form_page(
    request: Request, console: Console, draft: Draft, *, editing: Agreement | None, status: int
) -> Response:
    async with console.admin.transaction() as session:
        agency_choices, purpose_choices = await agency_and_purpose_choices(session)
    schema_fields, relations = schema_choices(console.admin.schema, draft.subject_type)
    return render(request, "agreement_form.html", status=status, nav="agreements", draft=draft,
                  editing=editing, agencies=agency_choices, purposes=purpose_choices,
                  schema_fields=schema_fields, relations=relations, masks=sorted(MASKS),
                  term_labels={**TERM_LABELS, "agency": "agreement.agency",
                               "purpose": "agreement.purpose"},
                  general=GENERAL)  # fmt: skip


# -- the list and the queue --------------------------------------------------------------------


@router.get("")
async def list_agreements(
    *,
    request: Request,
    console: ConsoleDep,
    _session: StewardSession,
    agency: AgencyQuery = None,
    status: Annotated[str | None, Query(pattern=rf"^({'|'.join(STATUSES)})?$")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    async with console.admin.transaction() as session:
        items, after = await service.list_agreements(
            session=session, agency=agency, purpose=None, status=status or None, limit=50,
            cursor=cursor,
        )  # fmt: skip
    return render(request, "agreements.html", nav="agreements", items=items, after=after,
                  statuses=STATUSES, chosen_status=status or "", agency=agency or "")  # fmt: skip


approvals = APIRouter()


@approvals.get("/approvals")
async def approval_queue(
    *, request: Request, console: ConsoleDep, _session: StewardSession
) -> Response:
    async with console.admin.transaction() as session:
        items, _ = await service.list_agreements(
            session=session, agency=None, purpose=None, status="submitted", limit=100, cursor=None
        )
    return render(request, "approvals.html", nav="approvals", items=items)


# -- drafting --------------------------------------------------------------------------------


def _type_page(request: Request, *, chosen: str, status: int) -> Response:
    return render(request, "agreement_type.html", status=status, nav="agreements",
                  types=list(SUBJECT_KINDS), chosen=chosen, unknown=bool(chosen))  # fmt: skip


@router.get("/new")
async def new_agreement(
    *,
    request: Request,
    console: ConsoleDep,
    _session: StewardSession,
    subject_type: TypeQuery = None,
    agency: AgencyQuery = None,
    purpose: PurposeQuery = None,
) -> Response:
    """First the subject type (its fields come from the schema), then the terms."""
    if subject_type not in SUBJECT_KINDS:
        return _type_page(request, chosen=subject_type or "", status=422 if subject_type else 200)
    draft = Draft(agency=agency or "", purpose=purpose or "", subject_type=subject_type,
                  effective_from=datetime.now(VIETNAM_TIME).date().isoformat())  # fmt: skip
    return await _form_page(request, console, draft, editing=None, status=200)


@router.post("/new")
async def create_agreement(
    request: Request, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    draft = Draft.posted(form)
    if draft.subject_type not in SUBJECT_KINDS:
        return _type_page(request, chosen=draft.subject_type, status=422)
    terms = draft.terms()
    shape: AgreementIn | None = None
    try:
        shape = AgreementIn.model_validate(
            {
                "agency": draft.agency,
                "purpose": draft.purpose,
                "subject_type": draft.subject_type,
                **terms,
            }
        )
    except ValidationError as invalid:
        _shape_errors(draft, invalid)
    if shape is None or draft.errors:
        return await _form_page(request, console, draft, editing=None, status=422)
    try:
        async with console.admin.transaction() as session:
            created = await service.create_agreement(
                session=session, schema=console.admin.schema, new=shape, actor=steward.subject
            )
    except Problem as refused:
        _problem_error(draft, refused)
        return await _form_page(request, console, draft, editing=None, status=refused.status)
    return redirect(f"/console/agreements/{created.agreement_id}?done=saved")


# -- one agreement: edit, review, decide ---------------------------------------------------------


def in_force_before(history: Iterable[Agreement], current: Agreement) -> Agreement | None:
    """The version a change is reviewed against: the last approved one before it (None: the
    agreement was never in force)."""
    earlier = [v for v in history if v.version_id != current.version_id]
    approved = [v for v in earlier if v.status == "approved"]
    return max(approved, key=lambda v: v.valid_from) if approved else None


# The catalogue's label of each term (gateway/console/messages.py)
TERM_LABELS = {
    "fields": "agreement.fields",
    "via": "agreement.via",
    "masking": "agreement.mask",
    "legal_basis": "agreement.legal_basis",
    "legal_reference": "agreement.legal_reference",
    "consent_required": "agreement.consent_required",
    "effective_from": "agreement.effective_from",
    "effective_to": "agreement.effective_to",
    "daily_quota": "agreement.daily_quota",
}


@dataclass(frozen=True)
class TermChange:
    term: str
    before: str
    after: str
    added: list[str]
    removed: list[str]


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return _date_text(value)
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return str(value)


def term_changes(before: Agreement | None, after: Agreement) -> list[TermChange]:
    """Term by term, what `after` changes of `before` (everything, when there is none)."""
    changes: list[TermChange] = []
    for term in ("fields", "via", "masking"):
        old = _items(getattr(before, term, None) if before else None)
        new = _items(getattr(after, term))
        if old != new:
            changes.append(TermChange(term, "", "", sorted(new - old), sorted(old - new)))
    for term in ("legal_basis", "legal_reference", "consent_required", "effective_from",
                 "effective_to", "daily_quota"):  # fmt: skip
        old_value = getattr(before, term) if before else None
        new_value = getattr(after, term)
        if before is None or old_value != new_value:
            changes.append(TermChange(term, _shown(old_value), _shown(new_value), [], []))
    return changes


def _items(value: Any) -> set[str]:
    if not value:
        return set()
    if isinstance(value, dict):
        return {f"{k}: {v}" for k, v in value.items()}
    return {str(v) for v in value}


async def _review_page(
    request: Request,
    console: ConsoleDep,
    agreement_id: str,
    *,
    status: int = 200,
    refusal: Problem | None = None,
    note: str = "",
) -> Response:
    async with console.admin.transaction() as session:
        current = await service.get_agreement(session=session, agreement_id=agreement_id)
        history = await service.agreement_versions(session=session, agreement_id=agreement_id)
    before = in_force_before(history, current)
    done = request.query_params.get("done")
    page = f"{HOMES[STEWARD]}/agreements/{agreement_id}"
    return render(request, "agreement.html", status=status, nav="agreements", agreement=current,
                  language_path=page, term_labels=TERM_LABELS,
                  history=history, before=before, changes=term_changes(before, current),
                  refusal=refusal, done=done if done in DONE else None, note=note,
                  editable=current.status in service.EDITABLE,
                  submittable=current.status in service.TRANSITIONS["submit"].allowed_from,
                  suspendable=current.status in service.TRANSITIONS["suspend"].allowed_from,
                  decidable=current.status == "submitted")  # fmt: skip


def _checked_id(agreement_id: str) -> str:
    if not re.fullmatch(AGREEMENT_ID, agreement_id):
        raise not_found("agreement", agreement_id)
    return agreement_id


@router.get("/{agreement_id:path}/edit")
async def edit_form(
    *, request: Request, agreement_id: str, console: ConsoleDep, _session: StewardSession
) -> Response:
    async with console.admin.transaction() as session:
        current = await service.get_agreement(
            session=session, agreement_id=_checked_id(agreement_id)
        )
    return await _form_page(request, console, Draft.of(current), editing=current, status=200)


@router.post("/{agreement_id:path}/edit")
async def edit(
    *, request: Request, agreement_id: str, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    async with console.admin.transaction() as session:
        current = await service.get_agreement(
            session=session, agreement_id=_checked_id(agreement_id)
        )
    draft = Draft.posted(form)
    # what identifies the agreement is not edited: it is its id
    draft.agency, draft.purpose, draft.subject_type = (
        current.agency,
        current.purpose,
        current.subject_type,
    )
    terms = draft.terms()
    change: AgreementTerms | None = None
    try:
        change = AgreementTerms.model_validate(terms)
    except ValidationError as invalid:
        _shape_errors(draft, invalid)
    if change is None or draft.errors:
        return await _form_page(request, console, draft, editing=current, status=422)
    try:
        async with console.admin.transaction() as session:
            await service.edit_agreement(
                session=session, schema=console.admin.schema, agreement_id=agreement_id,
                change=change, actor=steward.subject, if_match=etag(int(draft.version or 0)),
            )  # fmt: skip
    except Problem as refused:
        _problem_error(draft, refused)
        return await _form_page(request, console, draft, editing=current, status=refused.status)
    return redirect(f"/console/agreements/{agreement_id}?done=saved")


@router.post("/{agreement_id:path}/{action}")
async def decide(
    *,
    request: Request,
    agreement_id: str,
    action: str,
    console: ConsoleDep,
    steward: StewardDep,
    form: FormDep,
) -> Response:
    """Submit, approve, reject or suspend: the service's transition, its refusal shown on the
    page."""
    if action not in ACTIONS:
        raise not_found("action", action)
    _checked_id(agreement_id)
    typed = form.get("note")
    note = typed.strip() if isinstance(typed, str) and typed.strip() else None
    version = form.get("version")
    try:
        try:  # the admin API's shape of a note
            OptionalNote.model_validate({"note": note})
        except ValidationError as invalid:
            raise bad_input("note", invalid.errors()[0].get("msg", "invalid")) from invalid
        async with console.admin.transaction() as session:
            await service.transition(
                session=session, agreement_id=agreement_id, action=action, decider=steward,
                note=note, if_match=etag(int(version)) if isinstance(version, str)
                and version.isdigit() else None,
            )  # fmt: skip
    except Problem as refused:
        return await _review_page(request, console, agreement_id, status=refused.status,
                                  refusal=refused, note=note or "")  # fmt: skip
    return redirect(f"/console/agreements/{agreement_id}?done={ACTIONS[action]}")


@router.get("/{agreement_id:path}")
async def review(
    *, request: Request, agreement_id: str, console: ConsoleDep, _session: StewardSession
) -> Response:
    return await _review_page(request, console, _checked_id(agreement_id))
