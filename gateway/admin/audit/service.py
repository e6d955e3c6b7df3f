"""What the admin API's access-log endpoints (gateway/admin/audit/views.py) and the console's
access-log page (gateway/console/audit.py) share: a steward's search or export recorded as one
`oversight` entry (the filter and how many entries it returned, under the subject it is about so
its citizen sees it), and the export's CSV streamed from the access log's own service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from gateway.admin.context import Admin
from gateway.audit import service
from gateway.audit.service import AccessLogFilter
from gateway.identity.principal import Principal


def subject_of(where: AccessLogFilter) -> tuple[str, str] | None:
    """The subject a search is about, to log the read under it (so its citizen sees it)."""
    if where.subject_id is None:
        return None
    return (where.subject_type or "resident", where.subject_id)


def logged_filters(where: AccessLogFilter) -> dict[str, Any]:
    """The search's filter as the access log keeps it (instants as ISO 8601 text)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(where).items()}


async def record_search(
    admin: Admin, *, steward: Principal, read: str, where: AccessLogFilter, returned: int
) -> None:
    """A steward's search (`audit.search`) or export (`audit.export`) of the access log, written
    durably before what it found leaves (`Admin.record_read`)."""
    await admin.record_read(
        steward=steward,
        read=read,
        filters=logged_filters(where),
        returned=returned,
        subject=subject_of(where),
    )


async def csv_chunks(admin: Admin, where: AccessLogFilter) -> AsyncIterator[str]:
    """The entries matching `where` as CSV, oldest first, a chunk at a time, read in a session
    of their own (the response streams after the request's transaction has ended)."""
    async with admin.services.sessions() as session:
        async for chunk in service.export_csv(session=session, where=where):
            yield chunk
