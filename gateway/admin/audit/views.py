"""`/admin/audit`: search the access log, export it as CSV, count entries per agency and day
(all through the access-log module's own service)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from gateway.admin.audit.models import AccessLogOut, DailyCountOut
from gateway.admin.audit.service import csv_chunks, record_search
from gateway.admin.http import AdminDep, Cursor, Limit, Page, StewardDep, bad_cursor
from gateway.admin.problems import bad_input, responses
from gateway.admin.types import CLIENT_ID, OFFICER, PURPOSE_CODE, SUBJECT_AUDIT_NAME, Day
from gateway.audit import service
from gateway.audit.service import AccessLogFilter
from gateway.cursors import CursorError
from gateway.dossiers.service import DOSSIER_NUMBER

router = APIRouter(prefix="/audit", tags=["audit"])
MAX_DAYS = 366

Agency = Annotated[str | None, Query(pattern=CLIENT_ID)]
Purpose = Annotated[str | None, Query(pattern=PURPOSE_CODE)]
SubjectType = Annotated[str | None, Query(pattern=SUBJECT_AUDIT_NAME)]
SubjectId = Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{1,40}$")]
Outcome = Annotated[
    str | None,
    Query(
        pattern=rf"^({'|'.join(service.OUTCOMES)})$",
        description="disclosed, refused, absent (lookups of keys that do not exist: "
        "enumeration attempts), oversight (stewards' reads), self (citizens' reads) or dossier "
        "(a one-stop dossier naming the subject was registered).",
    ),
]
Dossier = Annotated[
    str | None,
    Query(
        pattern=DOSSIER_NUMBER.pattern,
        description="The one-stop dossier the requests served (e.g. 000.00.15.H17-261205-0001).",
    ),
]
Officer = Annotated[str | None, Query(pattern=OFFICER, description="Officer id.")]
Since = Annotated[AwareDatetime | None, Query(description="From this instant (inclusive).")]
Until = Annotated[AwareDatetime | None, Query(description="Before this instant.")]


def _filter(
    *,
    agency: Agency = None,
    purpose: Purpose = None,
    subject_type: SubjectType = None,
    subject_id: SubjectId = None,
    outcome: Outcome = None,
    dossier: Dossier = None,
    officer: Officer = None,
    since: Since = None,
    until: Until = None,
) -> AccessLogFilter:
    """The search parameters, declared once for the search and the export."""
    return AccessLogFilter(
        agency=agency,
        purpose=purpose,
        subject_type=subject_type,
        subject_id=subject_id,
        outcome=outcome,
        dossier=dossier,
        officer=officer,
        since=since,
        until=until,
    )


Where = Annotated[AccessLogFilter, Depends(_filter)]


@router.get("", responses=responses(503))
async def search_access_log(
    *,
    admin: AdminDep,
    steward: StewardDep,
    where: Where,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AccessLogOut]:
    """Newest first. The search itself is logged (an `oversight` entry: the filter and how
    many entries it returned)."""
    try:
        async with admin.transaction() as session:
            page = await service.search(session=session, where=where, first=limit, after=cursor)
    except CursorError as error:
        raise bad_cursor() from error
    await record_search(
        admin, steward=steward, read="audit.search", where=where, returned=len(page.entries)
    )
    return Page(
        items=[AccessLogOut.of(e) for e in page.entries],
        next_cursor=page.end_cursor if page.has_next_page else None,
    )


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={**responses(503), 200: {"content": {"text/csv": {}}, "description": "CSV"}},
)
async def export_access_log(
    *,
    admin: AdminDep,
    steward: StewardDep,
    where: Where,
) -> StreamingResponse:
    """The matching entries as CSV, oldest first, streamed. The export is one `oversight`
    entry (its filter and how many entries it streams), written before the first byte."""
    async with admin.transaction() as session:
        matching = await service.count(session=session, where=where)
    await record_search(admin, steward=steward, read="audit.export", where=where, returned=matching)
    return StreamingResponse(
        csv_chunks(admin, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
    )


@router.get("/daily-counts", responses=responses())
async def daily_counts(
    *,
    admin: AdminDep,
    steward: StewardDep,
    since: Day,
    until: Day,
    agency: Agency = None,
    by_dossier: Annotated[
        bool, Query(description="One row per agency, day and dossier served.")
    ] = False,
) -> list[DailyCountOut]:
    """Entries per agency and day (Vietnam time), `since` to `until` inclusive (≤ 366 days),
    with how many were subjects refused whole and lookups of absent keys; with `by_dossier`,
    broken down by the dossier the requests served (null: requests that named none)."""
    if until < since:
        raise bad_input("until", "must not be before since")
    if until - since > timedelta(days=MAX_DAYS):
        raise bad_input("until", f"at most {MAX_DAYS} days at once")
    async with admin.transaction() as session:
        counts = await service.daily_counts(
            session=session, since=since, until=until, agency=agency, by_dossier=by_dossier
        )
    await admin.record_read(
        steward=steward,
        read="audit.daily-counts",
        filters={
            "since": since.isoformat(),
            "until": until.isoformat(),
            "agency": agency,
            "by_dossier": by_dossier,
        },
        returned=len(counts),
    )
    return [DailyCountOut.model_validate(asdict(c)) for c in counts]
