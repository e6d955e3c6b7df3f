"""Prefill forms in the console: the list, a form's YAML (the format of `graphql/forms/*.yaml`)
in an editor with what the compiler refuses shown beside it — at its line and field when they
can be told —, the proposal it becomes, the second steward's decision, and a preview of what the
form would prefill for a subject.

Every rule is the admin API's (gateway/admin/purposes/service.py: the shape of a template
(gateway/admin/purposes/models.py FormIn), the compilation against the schema, four-eyes and
the registries' scopes). The preview fills the form exactly as `prefill` does
(gateway/graph/schema.py: a dead resident's form, else the form's compiled query through the
gateway's own resolvers and guard, then `prefilled`), decided by the policy for the form's
purpose as the chosen agency would be. What it shows is personal data: the guard's record of
what was given, refused or looked up becomes the steward's `oversight` entries in the access
log, durable before the page leaves (503 and nothing shown otherwise).
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from inspect import isawaitable
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import Response
from graphql import GraphQLError, execute, parse
from pydantic import ValidationError
from starlette.datastructures import FormData

from gateway.admin.agencies import service as agencies
from gateway.admin.agreements import service as agreements
from gateway.admin.problems import Problem, not_found, unavailable
from gateway.admin.purposes import proposals, service
from gateway.admin.purposes.models import FormIn
from gateway.admin.purposes.service import FORM, FormStanding
from gateway.admin.types import CLIENT_ID, FORM_CODE
from gateway.audit.writer import AuditUnavailable, Disclosure
from gateway.console.context import Console
from gateway.console.purposes import note_of, proposal_history
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.errors import ErrorCode, GatewayError
from gateway.graph.accountable import policy_entry
from gateway.graph.context import GatewayContext
from gateway.graph.forms import Form, FormError, compile_form
from gateway.graph.schema import death_prefill, prefilled
from gateway.graph.types import Prefill
from gateway.identity.principal import AGENCY, Principal
from gateway.subjects import SUBJECT_KINDS
from registries.identifiers import IdentifierError

router = APIRouter(prefix="/forms")
EDITOR, SUBJECT, PREVIEW_AGENCY = "template", "subject", "agency"
DONE = {"proposed", "approved", "rejected"}
ACTIONS = {"approve": "approved", "reject": "rejected"}
PREVIEW = "console form preview"  # the access log's operation of a preview
SKELETON = """\
code: {code}
title: Tờ khai …
procedure: Thủ tục …
legal_reference: Thông tư …
purpose: CT01
subject_type: Resident
fields:
  - key: ho_ten
    label: Họ, chữ đệm và tên
    path: fullName
"""


# -- the editor: YAML in, the admin API's shape out, errors at their lines ---------------------


@dataclass(frozen=True)
class EditorError:
    """One thing wrong with the template: where (the YAML line, the field as `fields[2].path`)
    when it can be told, and what the parser, the shape or the compiler said."""

    line: int | None
    where: str
    message: str


@dataclass
class Editor:
    code: str
    text: str
    subject: str = ""
    agency: str = ""
    errors: list[EditorError] = field(default_factory=list)  # the template's
    inputs: dict[str, list[str]] = field(default_factory=dict)  # the code's, preview's inputs
    _tree: yaml.Node | None = None

    def error(self, loc: Sequence[str | int], message: str) -> None:
        where = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in loc).lstrip(".")
        self.errors.append(EditorError(line_of(self._tree, loc), where, message))

    def input_error(self, name: str, message: str) -> None:
        self.inputs.setdefault(name, []).append(message)

    def read(self) -> dict[str, Any] | None:
        """The template as the admin API takes it (the code is the URL's), or None with the
        errors said."""
        try:
            self._tree = yaml.compose(self.text)
            loaded = yaml.safe_load(self.text)
        except yaml.MarkedYAMLError as invalid:
            mark = invalid.problem_mark or invalid.context_mark
            said = " ".join(str(p) for p in (invalid.context, invalid.problem) if p)
            line = mark.line + 1 if mark is not None else None
            self.errors.append(EditorError(line, "", f"YAML: {said or invalid}"))
            return None
        except yaml.YAMLError as invalid:
            self.errors.append(EditorError(None, "", f"YAML: {invalid}"))
            return None
        if not isinstance(loaded, dict):
            said = "a form is a YAML mapping: title, procedure, legal_reference, purpose, …"
            self.errors.append(EditorError(1, "", said))
            return None
        written = loaded.pop("code", self.code)
        if str(written) != self.code:
            self.error(("code",), f"this form's code is {self.code}, not {written!r}")
            return None
        return {str(k): v for k, v in loaded.items()}

    def shape(self) -> FormIn | None:
        document = self.read()
        if document is None:
            return None
        try:
            return FormIn.model_validate(document)
        except ValidationError as invalid:
            for item in invalid.errors():
                self.error(tuple(item.get("loc", ())), str(item.get("msg", "invalid")))
            return None

    def problem(self, refused: Problem, template: dict[str, Any]) -> None:
        """A refusal of the service, at the line of what it names."""
        argument = str(refused.extensions.get("argument", ""))
        if argument == "fields":
            self.error(compile_location(template, refused.detail), refused.detail)
        elif argument in {"purpose", "code"}:
            self.error((argument,), refused.detail)
        else:
            self.errors.append(EditorError(None, "", refused.detail))


def line_of(tree: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The line (from 1) of what `loc` names in the YAML, as deep as it goes; None at all."""
    node, line = tree, None
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == step), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                break
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


_NAMED = re.compile(r"has no field '(\w+)'|\.(\w+) is not a value|in '([^']+)'")


def compile_location(template: dict[str, Any], said: str) -> tuple[str | int, ...]:
    """The form field a compile error names (gateway/graph/forms.py says the field of the schema
    it could not follow, or the path it could not read): its path, else the fields."""
    found = _NAMED.search(said)
    fields = template.get("fields")
    if found is None or not isinstance(fields, list):
        return ("fields",)
    name, path = found.group(1) or found.group(2), found.group(3)
    for index, item in enumerate(fields):
        written = str(item.get("path", "")) if isinstance(item, dict) else ""
        names = [re.sub(r"\[\d+\]$", "", segment) for segment in written.split(".")]
        if written == path or (name is not None and name in names):
            return ("fields", index, "path")
    return ("fields",)


def as_yaml(document: dict[str, Any]) -> str:
    """A template as its file would read (the code first)."""
    ordered = {"code": document.get("code"), **{k: v for k, v in document.items() if k != "code"}}
    return yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=100)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove", "same", "hunk"
    text: str


def template_diff(before: str, after: str) -> list[DiffLine]:
    """Line by line, what a proposal changes of the template in force."""
    kinds = {"+": "add", "-": "remove", " ": "same", "@": "hunk"}
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2)
    return [DiffLine(kinds.get(line[:1], "same"), line) for line in list(lines)[2:]]


# -- the preview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    agency: str
    purpose: str
    subject: str
    prefill: Prefill | None
    refusal: str | None  # the gateway's refusal of the subject, as it says it


async def preview_prefill(
    console: Console, steward: Principal, form: Form, subject: str, agency: str
) -> Preview:
    """What `prefill` would answer `agency` for this form and subject now (gateway/graph/schema.py
    `_prefill` after it found the form), logged as the steward's oversight read of each subject
    the guard looked up or gave anything of."""
    services = console.admin.services
    context = GatewayContext(services)
    context.request_id = uuid.uuid4().hex
    context.operation = PREVIEW
    # the agency as the policy sees it: its agreements and the subject's consents decide
    as_agency = Principal(agency=agency, subject=steward.subject, roles=frozenset({AGENCY}),
                          token_id=None, expires_at=0)  # fmt: skip
    context.admit(as_agency, form.purpose)
    filled: Prefill | None = None
    refusal: str | None = None
    try:
        await policy_entry(context, fresh=True)
        try:
            filled = await death_prefill(context, form, subject)
            if filled is None:
                executed = execute(
                    console.admin.schema, parse(form.query),
                    variable_values={"subject": subject}, context_value=context,
                )  # fmt: skip
                result = await executed if isawaitable(executed) else executed
                errors = list(result.errors or [])
                for error in errors:  # the registry or the policy failed: nothing is shown
                    original = error.original_error
                    if original is not None and not isinstance(original, GraphQLError):
                        raise unavailable("the registry database") from original
                filled = prefilled(form, subject, result.data, errors)
        except GatewayError as refused:
            if refused.code is ErrorCode.UNAVAILABLE:
                raise unavailable("the policy engine") from refused
            refusal = refused.message
        except GraphQLError as refused:  # the subject refused whole, as the agency would be
            refusal = refused.message
        entries = context.guard.disclosures(
            request_id=context.request_id, officer=None, operation=PREVIEW
        )
    finally:
        await context.database.close()
    filters = {"form": form.code, "agency": agency, "purpose": form.purpose}
    await _record(console, steward, entries, filters)
    return Preview(agency, form.purpose, subject, filled, refusal)


async def _record(
    console: Console, steward: Principal, entries: list[Disclosure], filters: dict[str, Any]
) -> None:
    """The guard's entries (what was given, masked or refused of whom) as the steward's
    oversight read, the shape gateway/admin/context.py `Admin.record_read` writes: the steward
    saw it, not the agency it was decided for."""
    oversight = [
        replace(
            entry,
            agency=steward.agency,
            officer=steward.subject,
            purpose="oversight",
            legal_basis=None,
            operation=PREVIEW,
            decision={
                "outcome": "oversight",
                "read": "form preview",
                "filter": filters,
                "decided": entry.decision.get("outcome"),
                "reasons": entry.decision.get("reasons", {}),
                "roles": sorted(steward.roles),
            },
        )
        for entry in entries
    ]
    try:
        await console.admin.services.audit.record(oversight)
    except AuditUnavailable as error:
        raise unavailable("the access log") from error


# -- pages ---------------------------------------------------------------------------------------


def checked_form_code(code: str) -> str:
    if not re.fullmatch(FORM_CODE, code):
        raise not_found(FORM, code)
    return code


@router.get("")
async def list_forms(
    *, request: Request, console: ConsoleDep, _session: StewardSession
) -> Response:
    async with console.admin.transaction() as session:
        items = await service.list_forms(session=session)
    return render(request, "forms.html", nav="forms", items=items)


async def _agencies_for(console: Console, purpose: str | None) -> tuple[list[str], list[str]]:
    """The active agencies, and those an approved agreement serves for the purpose (first)."""
    async with console.admin.transaction() as session:
        found, _ = await agencies.list_agencies(
            session=session, status="active", limit=100, cursor=None
        )
        served: list[str] = []
        if purpose:
            approved, _ = await agreements.list_agreements(
                session=session, agency=None, purpose=purpose, status="approved", limit=100,
                cursor=None,
            )  # fmt: skip
            served = sorted({a.agency for a in approved})
    return [a.client_id for a in found], served


async def _page(
    request: Request,
    console: Console,
    editor: Editor,
    *,
    status: int = 200,
    new: bool = False,
    preview: Preview | None = None,
    refusal: Problem | None = None,
    note: str = "",
    purpose: str | None = None,
) -> Response:
    standing: FormStanding | None = None
    history: list[Any] = []
    if not new:
        async with console.admin.transaction() as session:
            standing = await service.get_form(session=session, code=editor.code)
            history = await proposal_history(session, FORM, editor.code)
    in_force = as_yaml(standing.document) if standing and standing.document else ""
    pending = standing.pending if standing else None
    proposed = as_yaml(dict(pending.document)) if pending is not None else ""
    if purpose is None and standing is not None:
        purpose = str((standing.document or (pending.document if pending else {})).get("purpose"))
    active, served = await _agencies_for(console, purpose)
    if not editor.agency and served:
        editor.agency = served[0]
    done = request.query_params.get("done")
    return render(
        request, "forms_one.html", status=status, nav="forms", editor=editor, new=new,
        standing=standing, in_force=in_force, pending=pending, proposed=proposed,
        diff=template_diff(in_force, proposed) if pending is not None else [],
        proposal_etag=proposals.etag(pending) if pending is not None else "",
        form_etag=service.form_etag(standing.document) if standing and standing.document else "",
        history=history, agencies=[*served, *(a for a in active if a not in served)],
        served=served, preview=preview, refusal=refusal, note=note,
        done=done if done in DONE else None,
        language_path=f"/console/forms/{'new' if new else editor.code}",
    )  # fmt: skip


@router.get("/new")
async def new_form(*, request: Request, console: ConsoleDep, _session: StewardSession) -> Response:
    editor = Editor(code="", text=SKELETON.format(code="MOI-01"))
    return await _page(request, console, editor, new=True, purpose="CT01")


def _posted(form: FormData, code: str) -> Editor:
    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    return Editor(code=code, text=text("template").replace("\r\n", "\n"),
                  subject=text("subject").strip(), agency=text("agency").strip())  # fmt: skip


@router.post("/new")
async def create_form(
    request: Request, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    code = str(form.get("code") or "").strip()
    editor = _posted(form, code)
    if not re.fullmatch(FORM_CODE, code):
        editor.input_error("code", f"{code!r}: a form code is 2–32 capitals, digits, - or _")
        return await _page(request, console, editor, status=422, new=True)
    return await _save_or_preview(request, console, steward, form, editor, new=True)


@router.post("/{code}")
async def save_form(
    *, request: Request, code: str, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    editor = _posted(form, checked_form_code(code))
    return await _save_or_preview(request, console, steward, form, editor, new=False)


async def _save_or_preview(
    request: Request,
    console: Console,
    steward: Principal,
    form: FormData,
    editor: Editor,
    *,
    new: bool,
) -> Response:
    """`do=save`: the template proposed (If-Match: the form in force the page showed);
    `do=preview`: the template as typed, compiled and filled for the subject."""
    shape = editor.shape()
    if shape is None:
        return await _page(request, console, editor, status=422, new=new)
    template = {"code": editor.code, **shape.model_dump(exclude_none=True)}
    if form.get("do") == "preview":
        return await _preview(request, console, steward, editor, template, new=new)
    tag = form.get("etag")
    try:
        async with console.admin.transaction() as session:
            await service.propose_form(
                session=session, schema=console.admin.schema, code=editor.code, form=shape,
                actor=steward.subject, if_match=tag if isinstance(tag, str) and tag else None,
            )  # fmt: skip
    except Problem as refused:
        editor.problem(refused, template)
        return await _page(request, console, editor, status=refused.status, new=new,
                           purpose=shape.purpose)  # fmt: skip
    return redirect(f"/console/forms/{editor.code}?done=proposed")


async def _preview(
    request: Request,
    console: Console,
    steward: Principal,
    editor: Editor,
    template: dict[str, Any],
    *,
    new: bool,
) -> Response:
    purpose = str(template["purpose"])
    try:
        compiled = compile_form(template, console.admin.schema, editor.code)
    except FormError as error:
        editor.error(compile_location(template, str(error)), str(error))
        return await _page(request, console, editor, status=422, new=new, purpose=purpose)
    try:
        subject = SUBJECT_KINDS[compiled.subject_type].validate(editor.subject)
    except IdentifierError as error:
        editor.input_error(SUBJECT, str(error))
    if not re.fullmatch(CLIENT_ID, editor.agency):
        editor.input_error(PREVIEW_AGENCY, "choose the agency the form would be filled for")
    if editor.inputs:
        return await _page(request, console, editor, status=422, new=new, purpose=purpose)
    shown = await preview_prefill(console, steward, compiled, subject, editor.agency)
    return await _page(request, console, editor, new=new, preview=shown, purpose=purpose)


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
    """Approve or reject the pending proposal the page showed (its ETag), for the registries
    the steward holds: the service's decision, its refusal shown on the page."""
    if action not in ACTIONS:
        raise not_found("action", action)
    checked_form_code(code)
    typed = form.get("note")
    proposal = form.get("proposal")
    try:
        note = note_of(form)
        async with console.admin.transaction() as session:
            decided = await service.decide_form(
                session=session, schema=console.admin.schema, code=code, action=action,
                decider=steward, note=note,
                if_match=proposal if isinstance(proposal, str) and proposal else None,
            )  # fmt: skip
    except Problem as refused:
        async with console.admin.transaction() as session:
            standing = await service.get_form(session=session, code=code)
        editor = Editor(code=code, text=as_yaml(standing.document) if standing.document else "")
        said = typed.strip() if isinstance(typed, str) else ""
        return await _page(request, console, editor, status=refused.status, refusal=refused,
                           note=said)  # fmt: skip
    if decided.status == "approved":
        # as the admin API does: this process runs the form from now on, the others from their
        # next request (the approval moved the policy version: gateway/graph/catalogue.py)
        await console.admin.services.catalogues.reload()
    return redirect(f"/console/forms/{code}?done={ACTIONS[action]}")


@router.get("/{code}")
async def one_form(
    *, request: Request, code: str, console: ConsoleDep, _session: StewardSession
) -> Response:
    async with console.admin.transaction() as session:
        standing = await service.get_form(session=session, code=checked_form_code(code))
    document = standing.document or (dict(standing.pending.document) if standing.pending else {})
    return await _page(request, console, Editor(code=code, text=as_yaml(document)))
