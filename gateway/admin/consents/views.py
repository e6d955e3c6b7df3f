"""`/admin/consents`: by subject or agency; consents given on paper at a counter."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from gateway.admin.consents import service
from gateway.admin.consents.models import ConsentOut, PaperConsentIn
from gateway.admin.http import AdminDep, Cursor, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.types import CLIENT_ID

router = APIRouter(prefix="/consents", tags=["consents"])


@router.get("", responses=responses())
async def list_consents(
    *,
    admin: AdminDep,
    steward: StewardDep,
    subject_id: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    agency: Annotated[str | None, Query(pattern=CLIENT_ID)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ConsentOut]:
    """Newest first, revoked ones included; by `subject_id`, by `agency`, or both."""
    async with admin.transaction() as session:
        items, after = await service.list_consents(
            session=session, subject_id=subject_id, agency=agency, limit=limit, cursor=cursor
        )
    await admin.record_read(
        steward=steward,
        read="consents",
        filters={"subject_id": subject_id, "agency": agency, "cursor": cursor is not None},
        returned=len(items),
        subject=("resident", subject_id) if subject_id else None,
    )
    return Page(items=[ConsentOut.of(c) for c in items], next_cursor=after)


@router.post("/paper", status_code=201, responses=responses())
async def record_paper_consent(
    *, paper: PaperConsentIn, admin: AdminDep, response: Response
) -> ConsentOut:
    """A consent the citizen signed at a counter; it counts from the very next decision, and the
    citizen sees (and may revoke) it among `myConsents`."""
    async with admin.transaction() as session:
        consent = await service.record_paper_consent(
            session=session, schema=admin.schema, paper=paper
        )
    tag(response, consent.version_id)
    return ConsentOut.of(consent)
