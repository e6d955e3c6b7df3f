"""`/admin/audit`: search the access log, export it as CSV, count entries per agency and day
(all through the access-log module's own service)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from gateway.admin.audit.models import AccessLogOut, DailyCountOut
from gateway.admin.context import Admin
from gateway.admin.http import AdminDep, Cursor, Limit, Page, bad_cursor
from gateway.admin.problems import bad_input, responses
from gateway.admin.types import CLIENT_ID, PURPOSE_CODE, Day
from gateway.audit import service
from gateway.audit.service import AccessLogFilter
from gateway.cursors import CursorError

router = APIRouter(prefix="/audit", tags=["audit"])
MAX_DAYS = 366

Agency = Annotated[str | None, Query(pattern=CLIENT_ID)]
Purpose = Annotated[str | None, Query(pattern=PURPOSE_CODE)]
SubjectId = Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{1,40}$")]
Since = Annotated[AwareDatetime | None, Query(description="From this instant (inclusive).")]
Until = Annotated[AwareDatetime | None, Query(description="Before this instant.")]


def _filter(
    agency: str | None,
    purpose: str | None,
    subject_id: str | None,
    since: AwareDatetime | None,
    until: AwareDatetime | None,
) -> AccessLogFilter:
    return AccessLogFilter(
        agency=agency, purpose=purpose, subject_id=subject_id, since=since, until=until
    )


@router.get("", responses=responses())
async def search_access_log(
    *,
    admin: AdminDep,
    agency: Agency = None,
    purpose: Purpose = None,
    subject_id: SubjectId = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AccessLogOut]:
    """Newest first."""
    where = _filter(agency, purpose, subject_id, since, until)
    try:
        async with admin.transaction() as session:
            page = await service.search(session=session, where=where, first=limit, after=cursor)
    except CursorError as error:
        raise bad_cursor() from error
    return Page(
        items=[AccessLogOut.of(e) for e in page.entries],
        next_cursor=page.end_cursor if page.has_next_page else None,
    )


async def _csv(admin: Admin, where: AccessLogFilter) -> AsyncIterator[str]:
    async with admin.services.sessions() as session:
        async for chunk in service.export_csv(session=session, where=where):
            yield chunk


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={**responses(), 200: {"content": {"text/csv": {}}, "description": "CSV"}},
)
async def export_access_log(
    *,
    admin: AdminDep,
    agency: Agency = None,
    purpose: Purpose = None,
    subject_id: SubjectId = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    """The matching entries as CSV, oldest first, streamed."""
    where = _filter(agency, purpose, subject_id, since, until)
    return StreamingResponse(
        _csv(admin, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
    )


@router.get("/daily-counts", responses=responses())
async def daily_counts(
    *, admin: AdminDep, since: Day, until: Day, agency: Agency = None
) -> list[DailyCountOut]:
    """Entries per agency and day (Vietnam time), `since` to `until` inclusive (≤ 366 days)."""
    if until < since:
        raise bad_input("until", "must not be before since")
    if until - since > timedelta(days=MAX_DAYS):
        raise bad_input("until", f"at most {MAX_DAYS} days at once")
    async with admin.transaction() as session:
        counts = await service.daily_counts(
            session=session, since=since, until=until, agency=agency
        )
    return [DailyCountOut(agency=c.agency, day=c.day, entries=c.entries) for c in counts]
