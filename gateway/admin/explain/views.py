"""`/admin/explain`: would this agency get these fields of this subject, now, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.admin.explain import service
from gateway.admin.explain.models import ExplainOut
from gateway.admin.http import AdminDep, StewardDep
from gateway.admin.problems import responses
from gateway.admin.types import CLIENT_ID, PURPOSE_CODE, RELATION
from gateway.subjects import SUBJECT_KINDS, SUBJECT_TYPE_PATTERN

router = APIRouter(tags=["explain"])


@router.get("/explain", responses=responses(503))
async def explain_decision(
    *,
    admin: AdminDep,
    steward: StewardDep,
    agency: Annotated[str, Query(pattern=CLIENT_ID)],
    purpose: Annotated[str, Query(pattern=PURPOSE_CODE)],
    type: Annotated[str, Query(pattern=SUBJECT_TYPE_PATTERN)],
    subject: Annotated[str, Query(pattern=r"^[0-9A-Za-z-]{1,40}$")],
    field: Annotated[list[str], Query(min_length=1, max_length=50)],
    via: Annotated[str | None, Query(pattern=RELATION)] = None,
) -> ExplainOut:
    """The same Rego the gateway runs, asked for its reasons and the agreements it considered.
    Nothing of the subject's record is disclosed; the read (which reads the subject's consents)
    is written to the access log under the subject."""
    async with admin.transaction() as session:
        explained = await service.explain_access(
            session=session,
            schema=admin.schema,
            engine=admin.explainer,
            agreements=admin.services.agreements,
            agency=agency,
            purpose=purpose,
            subject_type=type,
            subject=subject,
            fields=field,
            via=via,
        )
    audit_name = SUBJECT_KINDS[type].audit_name
    await admin.record_read(
        steward=steward,
        read="explain",
        filters={"agency": agency, "purpose": purpose, "type": type, "fields": field, "via": via},
        returned=1,
        subject=(audit_name, subject),
    )
    return explained
