"""`/admin/explain`: would this agency get these fields of this subject, now, and why."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from gateway.admin.explain import service
from gateway.admin.explain.models import ExplainOut
from gateway.admin.http import AdminDep
from gateway.admin.problems import responses
from gateway.admin.types import CLIENT_ID, PURPOSE_CODE

router = APIRouter(tags=["explain"])


@router.get("/explain", responses=responses(503))
async def explain_decision(
    *,
    admin: AdminDep,
    agency: Annotated[str, Query(pattern=CLIENT_ID)],
    purpose: Annotated[str, Query(pattern=PURPOSE_CODE)],
    type: Literal["Resident", "Household", "Enterprise", "Parcel"],
    subject: Annotated[str, Query(pattern=r"^[0-9A-Za-z-]{1,40}$")],
    field: Annotated[list[str], Query(min_length=1, max_length=50)],
    via: Annotated[str | None, Query(pattern=r"^[A-Z][A-Za-z]{1,31}\.[a-zA-Z]{1,64}$")] = None,
) -> ExplainOut:
    """The same Rego the gateway runs, asked for its reasons and the agreements it considered.
    Nothing is disclosed and nothing is written to the access log."""
    async with admin.transaction() as session:
        return await service.explain_access(
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
