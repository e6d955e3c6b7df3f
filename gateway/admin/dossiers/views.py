"""`/admin/dossiers`: the one-stop dossiers agencies registered, searched by agency, purpose or
a subject they concern. Dossiers name citizens, so every read is an `oversight` entry."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from gateway import cursors
from gateway.admin.dossiers.models import DossierOut
from gateway.admin.http import AdminDep, Cursor, Limit, Page, StewardDep, bad_cursor
from gateway.admin.problems import not_found, responses
from gateway.admin.types import CLIENT_ID, PURPOSE_CODE, SUBJECT_TYPE
from gateway.dossiers import service
from gateway.dossiers.service import DOSSIER_NUMBER, DossierFilter

router = APIRouter(prefix="/dossiers", tags=["dossiers"])
NumberPath = Annotated[
    str, Path(pattern=DOSSIER_NUMBER.pattern, description="e.g. 000.00.15.H17-261205-0001")
]


@router.get("", responses=responses(503))
async def search_dossiers(
    *,
    admin: AdminDep,
    steward: StewardDep,
    agency: Annotated[str | None, Query(pattern=CLIENT_ID)] = None,
    purpose: Annotated[str | None, Query(pattern=PURPOSE_CODE)] = None,
    subject_type: Annotated[str | None, Query(pattern=SUBJECT_TYPE)] = None,
    subject_id: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{1,40}$")] = None,
    opened_since: Annotated[AwareDatetime | None, Query()] = None,
    opened_until: Annotated[AwareDatetime | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DossierOut]:
    """Newest first. A search by subject finds the dossiers that name it."""
    where = DossierFilter(
        agency=agency,
        purpose=purpose,
        subject_type=subject_type,
        subject_id=subject_id,
        opened_since=opened_since,
        opened_until=opened_until,
    )
    before = None
    if cursor is not None:
        try:
            before = cursors.decode_timed_cursor(cursor)
        except cursors.CursorError as error:
            raise bad_cursor() from error
    async with admin.transaction() as session:
        found = await service.search(session=session, where=where, limit=limit + 1, before=before)
    items = found[:limit]
    await admin.record_read(
        steward=steward,
        read="dossiers.search",
        filters={
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(where).items()
        },
        returned=len(items),
        subject=("resident", subject_id)
        if subject_id and subject_type in (None, "Resident")
        else None,
    )
    more = len(found) > limit
    return Page(
        items=[DossierOut.of(d) for d in items],
        next_cursor=cursors.encode_cursor(items[-1].opened_at.isoformat(), items[-1].number)
        if more
        else None,
    )


@router.get("/{number}", responses=responses(404, 503))
async def read_dossier(*, number: NumberPath, admin: AdminDep, steward: StewardDep) -> DossierOut:
    async with admin.transaction() as session:
        dossier = await service.get(session=session, number=number)
    if dossier is None:
        raise not_found("dossier", number)
    await admin.record_read(
        steward=steward, read="dossiers.read", filters={"number": number}, returned=1
    )
    return DossierOut.of(dossier)
