"""Agency documents: a GraphQL query one agency may run for one purpose, proposed by a steward,
checked against the schema and the agency's agreements, approved by stewards of every registry
it reads (four-eyes: gateway.admin.approvals), suspended, resubmitted, revoked. Every change is
a new version naming who made it.

Invariants:
- a document is accepted for review only when its agreements give everything it reads
  (gateway.graph.reach), and approved only when they still do; the refusal names each read no
  agreement gives;
- its name is the agency's own: a published document's name (a file or a form's) is refused,
  so a request by name always means one document;
- in force only while approved (an edit is a new proposal: the agency runs nothing under that
  name until it is approved again); a status change moves the policy version (migration 0010's
  trigger), so every process runs it, or stops running it, from its next request.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, parse, validate
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import review
from gateway.admin.approvals import PLATFORM, domains_of
from gateway.admin.history import current, for_change, keyset_page, versions
from gateway.admin.problems import AdminCode, Problem, bad_input, conflict
from gateway.errors import ErrorCode
from gateway.graph.reach import ReachError, reads, uncovered
from gateway.identity.principal import Principal
from gateway.policy.models import AgencyDocument, Purpose
from gateway.policy.service import agency_status, agreements_in_scope
from registries.history import is_current, supersede

WHAT = "agency document"


def document_id(agency: str, name: str) -> str:
    return f"{agency}/{name}"


def needs(document: AgencyDocument) -> frozenset[str]:
    """The scopes whose stewards approve it: the registries it reads (the platform's
    administrator for one that reads only public reference data)."""
    return domains_of(document.reaches) or frozenset({PLATFORM})


async def list_documents(
    *,
    session: AsyncSession,
    agency: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AgencyDocument], str | None]:
    query = select(AgencyDocument).where(is_current(AgencyDocument))
    if agency is not None:
        query = query.where(AgencyDocument.agency == agency)
    if status is not None:
        query = query.where(AgencyDocument.status == status)
    return await keyset_page(
        session=session, query=query, key=AgencyDocument.document_id, limit=limit, cursor=cursor
    )


async def get_document(*, session: AsyncSession, agency: str, name: str) -> AgencyDocument:
    return await current(
        session=session,
        model=AgencyDocument,
        key={"document_id": document_id(agency, name)},
        what=WHAT,
    )


async def document_versions(
    *, session: AsyncSession, agency: str, name: str
) -> list[AgencyDocument]:
    return await versions(
        session=session,
        model=AgencyDocument,
        key={"document_id": document_id(agency, name)},
        what=WHAT,
    )


@dataclass(frozen=True)
class Checked:
    name: str
    reaches: list[str]


async def _now(session: AsyncSession) -> datetime:
    now: datetime = (await session.execute(select(func.now()))).scalar_one()
    return now


def _not_given(agency: str, purpose: str, missing: list[str]) -> Problem:
    return Problem(
        422,
        ErrorCode.BAD_USER_INPUT,
        f"text: no agreement of {agency} for {purpose} gives {', '.join(missing)}",
        argument="text",
        uncovered=missing,
    )


async def check(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    agency: str,
    purpose: str,
    text: str,
    published: Container[str],
) -> Checked:
    """The document's name and the subject types it reads, once it is a valid query that the
    agency's agreements for the purpose cover; the refusal otherwise, naming what is wrong."""
    if await agency_status(session=session, agency=agency) != "active":
        raise bad_input("agency", f"no active agency {agency!r} is registered")
    known = await session.execute(
        select(func.count()).where(Purpose.code == purpose, is_current(Purpose))
    )
    if not known.scalar_one():
        raise bad_input("purpose", f"no purpose {purpose!r} in the catalogue")
    try:
        document = parse(text, max_tokens=5000)
    except GraphQLError as error:
        raise bad_input("text", f"not a GraphQL document: {error.message}") from error
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None:
        raise bad_input("text", "exactly one named operation (its name is the document's)")
    errors = validate(schema, document)
    if errors:
        raise bad_input("text", "; ".join(e.message for e in errors[:5]))
    name = operations[0].name.value
    if name in published:
        raise conflict(f"{name!r} is the name of a published document: choose another")
    try:
        wanted = reads(schema, document)
    except ReachError as error:
        raise bad_input("text", str(error)) from error
    missing = uncovered(
        wanted,
        await agreements_in_scope(session=session, agency=agency, purpose=purpose),
        await _now(session),
    )
    if missing:
        raise _not_given(agency, purpose, missing)
    return Checked(name, sorted({r.type_name for r in wanted}))


async def propose(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    agency: str,
    purpose: str,
    text: str,
    actor: str,
    published: Container[str],
) -> AgencyDocument:
    checked = await check(
        session=session,
        schema=schema,
        agency=agency,
        purpose=purpose,
        text=text,
        published=published,
    )
    key = document_id(agency, checked.name)
    exists = await session.execute(
        select(func.count()).where(AgencyDocument.document_id == key, is_current(AgencyDocument))
    )
    if exists.scalar_one():
        raise conflict(f"{WHAT} {key!r} exists: change it (PUT) instead")
    return await _version(session, key, _proposal(agency, purpose, text, checked, actor))


async def change(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    agency: str,
    name: str,
    purpose: str | None,
    text: str,
    actor: str,
    if_match: str | None,
    published: Container[str],
) -> AgencyDocument:
    """A new text: a new proposal, reviewed afresh (the document is not in force meanwhile)."""
    key = document_id(agency, name)
    found = await for_change(
        session=session,
        model=AgencyDocument,
        key={"document_id": key},
        what=WHAT,
        if_match=if_match,
    )
    if found.status == "revoked":
        raise conflict(f"{WHAT} {key!r} is revoked: propose a document of another name")
    purpose = purpose or found.purpose
    checked = await check(
        session=session,
        schema=schema,
        agency=agency,
        purpose=purpose,
        text=text,
        published=published,
    )
    if checked.name != name:
        raise bad_input("text", f"the operation must keep its name {name!r}")
    return await _version(session, key, _proposal(agency, purpose, text, checked, actor))


def _proposal(agency: str, purpose: str, text: str, checked: Checked, actor: str) -> dict[str, Any]:
    return {
        "agency": agency,
        "purpose": purpose,
        "name": checked.name,
        "text": text,
        "reaches": checked.reaches,
        **review.proposal(actor),
    }


async def _version(session: AsyncSession, key: str, values: dict[str, Any]) -> AgencyDocument:
    document, _ = await supersede(
        session=session, model=AgencyDocument, key={"document_id": key}, values=values
    )
    return document


async def decide(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    agency: str,
    name: str,
    action: str,
    decider: Principal,
    note: str | None,
    if_match: str | None,
) -> AgencyDocument:
    """A step of the document's review (gateway.admin.review); an approval counts only while
    the agency's agreements still give everything the document reads."""

    async def still_covered(found: AgencyDocument) -> None:
        await _still_covered(session, schema, found)

    return await review.decide(
        session=session,
        model=AgencyDocument,
        key={"document_id": document_id(agency, name)},
        what="document",
        action=action,
        decider=decider,
        note=note,
        if_match=if_match,
        needs=needs,
        still_holds=still_covered,
    )


async def _still_covered(
    session: AsyncSession, schema: GraphQLSchema, found: AgencyDocument
) -> None:
    """An approval decides on the agreements as they stand now, not as when it was proposed."""
    wanted = reads(schema, parse(found.text))
    agreements = await agreements_in_scope(
        session=session, agency=found.agency, purpose=found.purpose
    )
    missing = uncovered(wanted, agreements, await _now(session))
    if missing:
        raise Problem(
            409,
            AdminCode.CONFLICT,
            f"the agreements of {found.agency} for {found.purpose} no longer give "
            f"{', '.join(missing)}: reject it, or have them approved first",
            uncovered=missing,
        )
