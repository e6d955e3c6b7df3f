"""The access log in the console: a search by agency, purpose, subject, period and outcome, a
page at a time, its CSV export (the same filters, streamed), and the chains' last verification.

Each filter is checked by the admin API's own parameter types (gateway/admin/audit/views.py),
the search and the export are the access log's service (gateway/audit/service.py), and every
search or export is recorded as the API records it (gateway/admin/audit/service.py): one
`oversight` entry with the filter and how many entries it returned, under the subject when one
is searched for (so their citizen sees it), written before the page or the first byte leaves.
The verification is the dashboard's (gateway/console/dashboard.py): its button posts there.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import TypeAdapter, ValidationError

from gateway.admin.audit.models import AccessLogOut
from gateway.admin.audit.service import csv_chunks, record_search
from gateway.admin.audit.views import Agency, Outcome, Purpose, SubjectId, SubjectType
from gateway.admin.http import bad_cursor
from gateway.admin.types import Day
from gateway.audit import service
from gateway.audit.service import AccessLogFilter
from gateway.console.inputs import GENERAL, Entry
from gateway.console.web import ConsoleDep, StewardDep, render
from gateway.cursors import CursorError
from gateway.subjects import SUBJECT_KINDS

router = APIRouter(prefix="/audit")
PAGE_SIZE = 50
# The inputs, each checked by the admin API's type of that parameter
CHECKS: dict[str, TypeAdapter[Any]] = {
    "agency": TypeAdapter(Agency),
    "purpose": TypeAdapter(Purpose),
    "subject_type": TypeAdapter(SubjectType),
    "subject_id": TypeAdapter(SubjectId),
    "outcome": TypeAdapter(Outcome),
    "since": TypeAdapter(Day),
    "until": TypeAdapter(Day),
}
INPUTS = (*CHECKS, "cursor")
LABELS = {name: f"audit.{name}" for name in INPUTS}
SUBJECT_TYPES = tuple(kind.audit_name for kind in SUBJECT_KINDS.values())


def _typed(request: Request) -> Entry:
    values = {name: request.query_params.get(name, "").strip()[:200] for name in INPUTS}
    return Entry(inputs=INPUTS, values=values)


def _filter(entry: Entry) -> AccessLogFilter | None:
    """The search as the access log's service takes it (the period in days, Vietnam time,
    `until` included); None, with the errors at their inputs, when an input is refused."""
    checked: dict[str, Any] = {}
    for name, adapter in CHECKS.items():
        if not entry.value(name):
            continue
        try:
            checked[name] = adapter.validate_python(
                date.fromisoformat(entry.value(name)) if name in ("since", "until")
                else entry.value(name)
            )  # fmt: skip
        except ValueError as invalid:  # pydantic's ValidationError is a ValueError too
            said = invalid.errors()[0]["msg"] if isinstance(invalid, ValidationError) else None
            entry.error(name, said or f"{entry.value(name)!r} is not a date (YYYY-MM-DD)")
    if entry.errors:
        return None
    since: date | None = checked.pop("since", None)
    until: date | None = checked.pop("until", None)
    return AccessLogFilter(
        **checked,
        since=service.day_start(since) if since else None,
        until=service.day_start(until + timedelta(days=1)) if until else None,
    )


def _page(request: Request, entry: Entry, *, console_page: dict[str, Any], status: int) -> Response:
    query = {k: v for k, v in entry.values.items() if v and k != "cursor"}
    return render(request, "audit.html", status=status, nav="audit", entry=entry, labels=LABELS,
                  general=GENERAL, subject_types=SUBJECT_TYPES, outcomes=service.OUTCOMES,
                  query=query, **console_page)  # fmt: skip


@router.get("")
async def search(*, request: Request, console: ConsoleDep, steward: StewardDep) -> Response:
    """The form; once searched (any filter sent, even empty), a page of entries, newest first."""
    entry = _typed(request)
    shown: dict[str, Any] = {"entries": None, "after": None,
                             "verification": console.last_verification}  # fmt: skip
    if not any(name in request.query_params for name in CHECKS):
        return _page(request, entry, console_page=shown, status=200)
    where = _filter(entry)
    if where is None:
        return _page(request, entry, console_page=shown, status=422)
    try:
        async with console.admin.transaction() as session:
            found = await service.search(session=session, where=where, first=PAGE_SIZE,
                                         after=entry.value("cursor") or None)  # fmt: skip
    except CursorError as error:
        raise bad_cursor() from error
    await record_search(console.admin, steward=steward, read="audit.search", where=where,
                        returned=len(found.entries))  # fmt: skip
    shown["entries"] = [AccessLogOut.of(e) for e in found.entries]  # as the API shows them
    shown["after"] = found.end_cursor if found.has_next_page else None
    return _page(request, entry, console_page=shown, status=200)


@router.get("/export.csv")
async def export(*, request: Request, console: ConsoleDep, steward: StewardDep) -> Response:
    """The search's entries as CSV, oldest first, streamed: the admin API's export."""
    entry = _typed(request)
    where = _filter(entry)
    if where is None:
        shown = {"entries": None, "after": None, "verification": console.last_verification}
        return _page(request, entry, console_page=shown, status=422)
    async with console.admin.transaction() as session:
        matching = await service.count(session=session, where=where)
    await record_search(console.admin, steward=steward, read="audit.export", where=where,
                        returned=matching)  # fmt: skip
    return StreamingResponse(
        csv_chunks(console.admin, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
    )
