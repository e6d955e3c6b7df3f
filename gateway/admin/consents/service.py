"""Consents for stewards: listed by subject or by agency (newest first), and recorded from a
paper form through the same `grant_consent` citizens use online."""

from __future__ import annotations

from graphql import GraphQLSchema
from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.consents.models import PaperConsentIn
from gateway.admin.http import bad_cursor
from gateway.admin.problems import bad_input
from gateway.admin.schema_rules import check_fields
from gateway.cursors import CursorError, decode_timed_cursor, encode_cursor
from gateway.policy.models import Consent, Purpose
from gateway.policy.service import agency_status, grant_consent
from registries.history import is_current
from registries.identifiers import IdentifierError, validate_personal_id


async def list_consents(
    *,
    session: AsyncSession,
    subject_id: str | None,
    agency: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Consent], str | None]:
    if subject_id is None and agency is None:
        raise bad_input("subject_id", "list consents by subject_id or by agency (or both)")
    query = select(Consent).where(is_current(Consent))
    if subject_id is not None:
        query = query.where(Consent.subject_id == subject_id)
    if agency is not None:
        query = query.where(Consent.agency == agency)
    if cursor is not None:
        try:
            granted_at, consent_id = decode_timed_cursor(cursor)
        except CursorError as error:
            raise bad_cursor() from error
        query = query.where(
            tuple_(Consent.granted_at, Consent.consent_id) < (granted_at, consent_id)
        )
    rows = list(
        (
            await session.execute(
                query.order_by(Consent.granted_at.desc(), Consent.consent_id.desc()).limit(
                    limit + 1
                )
            )
        ).scalars()
    )
    items = rows[:limit]
    last = items[-1] if items else None
    more = len(rows) > limit and last is not None
    return items, encode_cursor(
        last.granted_at.isoformat(), last.consent_id
    ) if more and last else None


async def record_paper_consent(
    *, session: AsyncSession, schema: GraphQLSchema, paper: PaperConsentIn
) -> Consent:
    try:
        subject_id = validate_personal_id(paper.subject_id)
    except IdentifierError as error:
        raise bad_input("subject_id", str(error)) from error
    status = await agency_status(session=session, agency=paper.agency)
    if status != "active":
        raise bad_input("agency", f"no active agency {paper.agency!r}")
    purpose = await session.execute(
        select(func.count()).where(Purpose.code == paper.purpose, is_current(Purpose))
    )
    if not purpose.scalar_one():
        raise bad_input("purpose", f"no purpose {paper.purpose!r} in the catalogue")
    check_fields(schema, "Resident", paper.fields)
    now = (await session.execute(select(func.now()))).scalar_one()
    if paper.expires_at <= now:
        raise bad_input("expires_at", "must be in the future")
    return await grant_consent(
        session=session,
        subject_id=subject_id,
        agency=paper.agency,
        purpose=paper.purpose,
        fields=paper.fields,
        expires_at=paper.expires_at,
        channel="paper",
        officer=paper.officer,
        document_reference=paper.document_reference,
    )
