"""`/admin/alerts`: bulk-access alerts to review, a scan on demand, and a steward's review.

Alerts name agencies, officers and dossiers, and figures — never a subject — so reading them is
not an oversight read of anyone's data and leaves no access-log entry.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gateway.admin.alerts.models import AlertOut, ReviewIn
from gateway.admin.http import AdminDep, Cursor, Limit, Page, StewardDep, bad_cursor
from gateway.admin.problems import conflict, not_found, responses
from gateway.admin.types import CLIENT_ID
from gateway.alerts import service
from gateway.alerts.models import ALERT_KINDS, ALERT_STATUSES
from gateway.cursors import CursorError

router = APIRouter(prefix="/alerts", tags=["alerts"])

Status = Annotated[
    str | None,
    Query(
        pattern=rf"^({'|'.join(ALERT_STATUSES)})$",
        description="open (awaiting review), reviewed or dismissed.",
    ),
]
Kind = Annotated[
    str | None,
    Query(
        pattern=rf"^({'|'.join(ALERT_KINDS)})$",
        description="officer_volume, off_hours, absent_lookups or dossier_breadth.",
    ),
]
Agency = Annotated[str | None, Query(pattern=CLIENT_ID)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The alert's id.")]


@router.get("", responses=responses())
async def list_alerts(
    *,
    admin: AdminDep,
    status: Status = None,
    kind: Kind = None,
    agency: Agency = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AlertOut]:
    """Newest first."""
    try:
        async with admin.transaction() as session:
            items, after = await service.list_alerts(
                session=session, status=status, kind=kind, agency=agency, limit=limit,
                cursor=cursor,
            )  # fmt: skip
    except CursorError as error:
        raise bad_cursor() from error
    return Page(items=[AlertOut.of(a) for a in items], next_cursor=after)


@router.post("/scan", responses=responses())
async def scan_now(*, admin: AdminDep) -> list[AlertOut]:
    """Scan the current and the previous window now; the alerts this scan raised (none that an
    earlier scan already raised)."""
    services = admin.services
    async with admin.transaction() as session:
        raised = await service.scan(session=session, settings=services.settings)
    service.count_raised(services.metrics, raised)
    await service.refresh_gauges(sessions=services.sessions, metrics=services.metrics)
    return [AlertOut.of(a) for a in raised]


@router.get("/{alert_id}", responses=responses(404))
async def get_alert(*, admin: AdminDep, alert_id: AlertId) -> AlertOut:
    async with admin.transaction() as session:
        alert = await service.get_alert(session=session, alert_id=alert_id)
    if alert is None:
        raise not_found("alert", str(alert_id))
    return AlertOut.of(alert)


@router.patch("/{alert_id}", responses=responses(404, 409))
async def review_alert(
    *, admin: AdminDep, steward: StewardDep, alert_id: AlertId, review: ReviewIn
) -> AlertOut:
    """Close an open alert as `reviewed` or `dismissed`, with a note; the steward (`sub`) and
    the instant are recorded. A closed alert stays as its reviewer left it (409)."""
    try:
        async with admin.transaction() as session:
            alert = await service.review(
                session=session, alert_id=alert_id, status=review.status, note=review.note,
                actor=steward.subject,
            )  # fmt: skip
    except service.AlertNotFound as error:
        raise not_found("alert", str(alert_id)) from error
    except service.AlertClosed as error:
        raise conflict(str(error)) from error
    services = admin.services
    await service.refresh_gauges(sessions=services.sessions, metrics=services.metrics)
    return AlertOut.of(alert)
