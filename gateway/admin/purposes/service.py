"""The purpose catalogue, and the prefill form templates: the files of `graphql/forms/`, each
overridden by the version a steward saved (kept with its history in `form_templates`; read
together by gateway.graph.catalogue.form_documents).

A form is compiled against the schema before it is saved, so a template the gateway could not
run is refused with the reason, never stored."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from graphql import GraphQLSchema
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.history import current, for_change, keyset_page, versions
from gateway.admin.http import require_match
from gateway.admin.problems import bad_input, conflict, not_found
from gateway.admin.purposes.models import FormIn, PurposeChange, PurposeIn
from gateway.graph.catalogue import CatalogueError, build_catalogue, form_documents
from gateway.graph.forms import FormError, compile_form
from gateway.policy.models import FormTemplate, Purpose
from registries.history import is_current, supersede

WHAT = "purpose"


async def list_purposes(
    *, session: AsyncSession, limit: int, cursor: str | None
) -> tuple[list[Purpose], str | None]:
    return await keyset_page(
        session=session,
        query=select(Purpose).where(is_current(Purpose)),
        key=Purpose.code,
        limit=limit,
        cursor=cursor,
    )


async def get_purpose(*, session: AsyncSession, code: str) -> Purpose:
    return await current(session=session, model=Purpose, key={"code": code}, what=WHAT)


async def purpose_versions(*, session: AsyncSession, code: str) -> list[Purpose]:
    return await versions(session=session, model=Purpose, key={"code": code}, what=WHAT)


async def create_purpose(*, session: AsyncSession, new: PurposeIn, actor: str) -> Purpose:
    exists = await session.execute(
        select(func.count()).where(Purpose.code == new.code, is_current(Purpose))
    )
    if exists.scalar_one():
        raise conflict(f"purpose {new.code!r} exists: edit it instead")
    purpose, _ = await supersede(
        session=session,
        model=Purpose,
        key={"code": new.code},
        values={
            "title": new.title,
            "procedure": new.procedure,
            "case_bound": new.case_bound,
            "changed_by": actor,
        },
    )
    return purpose


async def update_purpose(
    *, session: AsyncSession, code: str, change: PurposeChange, actor: str, if_match: str | None
) -> Purpose:
    await for_change(
        session=session, model=Purpose, key={"code": code}, what=WHAT, if_match=if_match
    )
    purpose, _ = await supersede(
        session=session,
        model=Purpose,
        key={"code": code},
        values={**change.model_dump(exclude_none=True), "changed_by": actor},
    )
    return purpose


def form_etag(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
    return f'"{hashlib.sha256(canonical).hexdigest()[:16]}"'


async def get_form(*, session: AsyncSession, code: str) -> tuple[dict[str, Any], str]:
    found = (await form_documents(session=session)).get(code)
    if found is None:
        raise not_found("form", code)
    return found


async def save_form(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    code: str,
    form: FormIn,
    actor: str,
    if_match: str | None,
) -> dict[str, Any]:
    # Serialise saves of one form until commit (a file-only form has no row to lock).
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("form:" + code))))
    existing = (await form_documents(session=session)).get(code)
    if existing is not None:
        require_match(if_match, form_etag(existing[0]))
    purpose = await session.execute(
        select(func.count()).where(Purpose.code == form.purpose, is_current(Purpose))
    )
    if not purpose.scalar_one():
        raise bad_input("purpose", f"no purpose {form.purpose!r} in the catalogue")
    document = {"code": code, **form.model_dump(exclude_none=True)}
    try:
        compile_form(document, schema, code)
    except FormError as error:
        raise bad_input("fields", str(error)) from error
    # With every other form, it must still build a catalogue (its document's name is its own)
    others = {c: d for c, (d, _) in (await form_documents(session=session)).items()}
    try:
        build_catalogue(0, {**others, code: document}, schema)
    except CatalogueError as error:
        raise bad_input("code", str(error)) from error
    await supersede(
        session=session,
        model=FormTemplate,
        key={"code": code},
        values={"document": document, "changed_by": actor},
    )
    return document
