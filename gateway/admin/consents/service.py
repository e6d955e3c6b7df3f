"""Consents for stewards: listed by subject or by agency (newest first), and recorded from a
paper form through the same `grant_consent`, and the same rule, as citizens use online."""

from __future__ import annotations

from graphql import GraphQLSchema
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.consents.models import PaperConsentIn
from gateway.admin.http import bad_cursor
from gateway.admin.problems import bad_input
from gateway.admin.schema_rules import check_fields
from gateway.cursors import CursorError, decode_timed_cursor, encode_cursor
from gateway.policy.consents import ConsentRefused
from gateway.policy.models import Consent
from gateway.policy.service import grant_consent
from registries.history import is_current


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
    """The consent on the paper, recorded by `grant_consent` under the one rule of what a
    citizen may consent to (gateway/policy/consents.py); a refusal is a 422 naming the input,
    its detail ending with the rule's code. Field names are checked against the published
    schema first, as an agreement's are, so a misspelt one is said as such."""
    check_fields(schema, "Resident", paper.fields)
    try:
        return await grant_consent(
            session=session,
            subject_id=paper.subject_id,
            agency=paper.agency,
            purpose=paper.purpose,
            fields=paper.fields,
            expires_at=paper.expires_at,
            channel="paper",
            officer=paper.officer,
            document_reference=paper.document_reference,
        )
    except ConsentRefused as refused:
        raise bad_input(refused.argument, f"{refused} ({refused.code})") from refused
