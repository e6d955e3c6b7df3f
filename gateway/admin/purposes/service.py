"""The purpose catalogue, and the prefill form templates: the files of `graphql/forms/`, each
overridden by the version stewards approved (kept with its history in `form_templates`; read
together by gateway.graph.catalogue.form_documents).

A change to either is a proposal (gateway.admin.purposes.proposals) until approved: a purpose by
the platform's administrator, a form by a steward of every registry it reads (`form_reaches`).
A form is compiled against the schema when proposed and again when its approval puts it in
force, so a template the gateway could not run is refused with the reason, never stored."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.approvals import PLATFORM, domains_of
from gateway.admin.history import for_change, versions
from gateway.admin.http import decode_cursor, etag, require_match
from gateway.admin.problems import bad_input, conflict, not_found
from gateway.admin.purposes import proposals
from gateway.admin.purposes.models import FormIn, PurposeChange, PurposeIn
from gateway.cursors import encode_cursor
from gateway.graph.catalogue import CatalogueError, build_catalogue, form_documents
from gateway.graph.forms import Form, FormError, compile_form
from gateway.identity.principal import Principal
from gateway.policy.models import FormTemplate, Proposal, Purpose
from gateway.policy.service import open_proposal, propose
from gateway.subjects import SUBJECT_KINDS
from registries.history import is_current, supersede

PURPOSE = "purpose"
FORM = "form"


@dataclass(frozen=True)
class PurposeStanding:
    """A purpose: the version in force (None: only proposed) and the change pending, if any."""

    code: str
    in_force: Purpose | None
    pending: Proposal | None


@dataclass(frozen=True)
class FormStanding:
    """A form: the template in force (None: only proposed), where it comes from ("file", or
    "steward": `template`, the approved version) and the change pending, if any."""

    code: str
    document: dict[str, Any] | None
    source: str
    template: FormTemplate | None
    pending: Proposal | None


# -- purposes ------------------------------------------------------------------------------


def _purpose_values(purpose: Purpose) -> dict[str, Any]:
    return {
        "title": purpose.title,
        "procedure": purpose.procedure,
        "case_bound": purpose.case_bound,
    }


async def _pending_by_code(
    session: AsyncSession, kind: str, codes: list[str] | None = None
) -> dict[str, Proposal]:
    query = select(Proposal).where(
        Proposal.kind == kind, Proposal.status == "submitted", is_current(Proposal)
    )
    if codes is not None:
        query = query.where(Proposal.code.in_(codes))
    return {p.code: p for p in (await session.execute(query)).scalars()}


async def list_purposes(
    *, session: AsyncSession, limit: int, cursor: str | None
) -> tuple[list[PurposeStanding], str | None]:
    """Purposes in force and purposes only proposed, by code, `limit` at a time."""
    codes = union(
        select(Purpose.code.label("code")).where(is_current(Purpose)),
        select(Proposal.code.label("code")).where(
            Proposal.kind == PURPOSE, Proposal.status == "submitted", is_current(Proposal)
        ),
    ).subquery()
    query = select(codes.c.code).order_by(codes.c.code).limit(limit + 1)
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(codes.c.code > after)
    page = list((await session.execute(query)).scalars())
    more = len(page) > limit
    page = page[:limit]
    in_force = {
        p.code: p
        for p in (
            await session.execute(
                select(Purpose).where(Purpose.code.in_(page), is_current(Purpose))
            )
        ).scalars()
    }
    pending = await _pending_by_code(session, PURPOSE, page)
    items = [PurposeStanding(code, in_force.get(code), pending.get(code)) for code in page]
    return items, encode_cursor(page[-1]) if more else None


async def get_purpose(*, session: AsyncSession, code: str) -> PurposeStanding:
    found = (
        await session.execute(select(Purpose).where(Purpose.code == code, is_current(Purpose)))
    ).scalar_one_or_none()
    pending = await open_proposal(session=session, kind=PURPOSE, code=code)
    if found is None and pending is None:
        raise not_found(PURPOSE, code)
    return PurposeStanding(code, found, pending)


async def purpose_versions(*, session: AsyncSession, code: str) -> list[Purpose]:
    """The versions that were in force, oldest first: who proposed and who approved each."""
    return await versions(session=session, model=Purpose, key={"code": code}, what=PURPOSE)


async def propose_purpose(*, session: AsyncSession, new: PurposeIn, actor: str) -> Proposal:
    """A new purpose, proposed: in the catalogue once the platform's administrator approves."""
    exists = await session.execute(
        select(func.count()).where(Purpose.code == new.code, is_current(Purpose))
    )
    if exists.scalar_one():
        raise conflict(f"purpose {new.code!r} exists: edit it instead")
    document = new.model_dump(exclude={"code"})
    return await propose(session=session, kind=PURPOSE, code=new.code, document=document,
                         base=None, needs=[PLATFORM], actor=actor)  # fmt: skip


async def propose_purpose_change(
    *, session: AsyncSession, code: str, change: PurposeChange, actor: str, if_match: str | None
) -> Proposal:
    """A change to the purpose in force the caller read (`If-Match`), proposed."""
    found = await for_change(
        session=session, model=Purpose, key={"code": code}, what=PURPOSE, if_match=if_match
    )
    in_force = _purpose_values(found)
    document = {**in_force, **change.model_dump(exclude_none=True)}
    if document == in_force:
        raise bad_input("body", "the purpose in force already reads so: nothing to propose")
    return await propose(session=session, kind=PURPOSE, code=code, document=document,
                         base=etag(found.version_id), needs=[PLATFORM], actor=actor)  # fmt: skip


async def decide_purpose(
    *,
    session: AsyncSession,
    code: str,
    action: str,
    decider: Principal,
    note: str | None,
    if_match: str | None,
) -> Proposal:
    found = (
        await session.execute(select(Purpose).where(Purpose.code == code, is_current(Purpose)))
    ).scalar_one_or_none()

    async def apply(proposal: Proposal, approved_by: str) -> None:
        values = {**proposal.document, "changed_by": proposal.proposed_by}
        await supersede(session=session, model=Purpose, key={"code": code},
                        values={**values, "approved_by": approved_by})  # fmt: skip

    return await proposals.decide(
        session=session,
        kind=PURPOSE,
        code=code,
        action=action,
        decider=decider,
        note=note,
        if_match=if_match,
        in_force=etag(found.version_id) if found is not None else None,
        apply=apply,
    )


# -- forms ---------------------------------------------------------------------------------


def form_etag(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
    return f'"{hashlib.sha256(canonical).hexdigest()[:16]}"'


def form_reaches(form: Form, schema: GraphQLSchema) -> frozenset[str]:
    """The subject types a form reads: its own, and every one its field paths pass through
    (each member of a union on the way: the gateway reads whichever it holds from its registry).
    Their registries' stewards decide the form (`domains_of`)."""
    reached = {form.subject_type}
    root = schema.get_type(form.subject_type)
    for form_field in form.fields:
        here: list[GraphQLNamedType] = [root] if root is not None else []
        for name, _ in form_field.steps:
            after: list[GraphQLNamedType] = []
            for type_ in here:
                if isinstance(type_, GraphQLObjectType) and name in type_.fields:
                    named = get_named_type(type_.fields[name].type)
                    after.extend(named.types if isinstance(named, GraphQLUnionType) else [named])
            reached.update(t.name for t in after if t.name in SUBJECT_KINDS)
            here = after
    return frozenset(reached)


async def _templates(session: AsyncSession) -> dict[str, FormTemplate]:
    rows = await session.execute(select(FormTemplate).where(is_current(FormTemplate)))
    return {t.code: t for t in rows.scalars()}


async def list_forms(*, session: AsyncSession) -> list[FormStanding]:
    """Every form in force and every form only proposed, by code."""
    documents = await form_documents(session=session)
    templates = await _templates(session)
    pending = await _pending_by_code(session, FORM)
    found = []
    for code in sorted(documents.keys() | pending.keys()):
        document, source = documents.get(code, (None, "steward"))
        template = templates.get(code) if source == "steward" else None
        found.append(FormStanding(code, document, source, template, pending.get(code)))
    return found


async def get_form(*, session: AsyncSession, code: str) -> FormStanding:
    found = (await form_documents(session=session)).get(code)
    pending = await open_proposal(session=session, kind=FORM, code=code)
    if found is None and pending is None:
        raise not_found(FORM, code)
    document, source = found or (None, "steward")
    template = (await _templates(session)).get(code) if source == "steward" else None
    return FormStanding(code, document, source, template, pending)


async def _check_form(
    session: AsyncSession, schema: GraphQLSchema, code: str, document: dict[str, Any]
) -> Form:
    """The form compiled, runnable beside every other form in force (422 otherwise)."""
    purpose = await session.execute(
        select(func.count()).where(Purpose.code == document["purpose"], is_current(Purpose))
    )
    if not purpose.scalar_one():
        raise bad_input("purpose", f"no purpose {document['purpose']!r} in the catalogue")
    try:
        form = compile_form(document, schema, code)
    except FormError as error:
        raise bad_input("fields", str(error)) from error
    # With every other form, it must still build a catalogue (its document's name is its own)
    others = {c: d for c, (d, _) in (await form_documents(session=session)).items()}
    try:
        build_catalogue(0, {**others, code: document}, schema)
    except CatalogueError as error:
        raise bad_input("code", str(error)) from error
    return form


async def _lock_form(session: AsyncSession, code: str) -> None:
    """Serialise changes of one form until commit (a file-only form has no row to lock)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("form:" + code))))


async def propose_form(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    code: str,
    form: FormIn,
    actor: str,
    if_match: str | None,
) -> Proposal:
    """A new template for `code` (If-Match: the ETag of the form in force, when there is one),
    proposed for approval by a steward of every registry it reads."""
    await _lock_form(session, code)
    existing = (await form_documents(session=session)).get(code)
    if existing is not None:
        require_match(if_match, form_etag(existing[0]))
    document = {"code": code, **form.model_dump(exclude_none=True)}
    if existing is not None and existing[0] == document:
        raise bad_input("body", "the form in force already reads so: nothing to propose")
    compiled = await _check_form(session, schema, code, document)
    needs = domains_of(form_reaches(compiled, schema))
    base = form_etag(existing[0]) if existing is not None else None
    return await propose(session=session, kind=FORM, code=code, document=document, base=base,
                         needs=needs, actor=actor)  # fmt: skip


async def decide_form(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    code: str,
    action: str,
    decider: Principal,
    note: str | None,
    if_match: str | None,
) -> Proposal:
    """Approving the last scope puts the form in force: written to `form_templates`, which
    moves the policy version (migration 0009's trigger), so every process reloads it."""
    await _lock_form(session, code)
    existing = (await form_documents(session=session)).get(code)

    async def apply(proposal: Proposal, approved_by: str) -> None:
        document = dict(proposal.document)
        await _check_form(session, schema, code, document)  # still runs with today's forms
        await supersede(session=session, model=FormTemplate, key={"code": code},
                        values={"document": document, "changed_by": proposal.proposed_by,
                                "approved_by": approved_by})  # fmt: skip

    return await proposals.decide(
        session=session,
        kind=FORM,
        code=code,
        action=action,
        decider=decider,
        note=note,
        if_match=if_match,
        in_force=form_etag(existing[0]) if existing is not None else None,
        apply=apply,
    )
