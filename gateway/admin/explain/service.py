""" "Would agency A get field F of subject S for purpose P now, and why": the agreements the
gateway would hand the engine (same cache), the subject's consents (read fresh), and the
policy's own reasons, through `gateway.policy.explain`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from graphql import GraphQLSchema
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.explain.models import ExplainOut, FieldExplanation
from gateway.admin.problems import bad_input, unavailable
from gateway.admin.schema_rules import check_fields, check_relations
from gateway.identity.principal import AGENCY
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import DecisionRequest, PolicyUnavailable
from gateway.policy.explain import explain
from gateway.policy.service import AgreementCache, agency_status, consents_of
from gateway.subjects import SUBJECT_KINDS
from registries.identifiers import IdentifierError


async def explain_access(
    *,
    session: AsyncSession,
    schema: GraphQLSchema,
    engine: EmbeddedEngine,
    agreements: AgreementCache,
    agency: str,
    purpose: str,
    subject_type: str,
    subject: str,
    fields: Sequence[str],
    via: str | None,
) -> ExplainOut:
    try:
        subject = SUBJECT_KINDS[subject_type].validate(subject)
    except IdentifierError as error:
        raise bad_input("subject", str(error)) from error
    check_fields(schema, subject_type, fields)
    check_relations(subject_type, [via] if via else [])
    status = await agency_status(session=session, agency=agency)
    scope = await agreements.agreements_for(
        session=session, agency=agency, purpose=purpose, subject_type=subject_type
    )
    consents = []
    if SUBJECT_KINDS[subject_type].consenting:
        consents = (await consents_of(session=session, subject_ids=[subject], agency=agency)).get(
            subject, []
        )
    now = datetime.now(UTC)
    request = DecisionRequest(
        agency=agency,
        roles=(AGENCY,),
        purpose=purpose,
        type=subject_type,
        subject=subject,
        fields=tuple(fields),
        agreements=scope,
        consents=consents,
        via=via,
        now=now,
    )
    try:
        explained = [explain(engine, request, field) for field in dict.fromkeys(fields)]
    except PolicyUnavailable as error:
        raise unavailable("the policy engine") from error
    return ExplainOut(
        agency=agency,
        agency_status=status or "unknown",
        purpose=purpose,
        subject_type=subject_type,
        via=via,
        at=now,
        fields=[FieldExplanation(**asdict(e)) for e in explained],
    )
