"""Agencies in the console: the list, registration, suspension and reactivation (the platform's
administrator, four-eyes on a reactivation), the public keys their software signs officer
assertions with, and the bulk-access alerts stewards review.

Every rule is the admin API's: the input shapes (gateway/admin/agencies/models.py,
gateway/admin/alerts/models.py), who may decide and the four-eyes rule
(gateway/admin/agencies/service.py, gateway/admin/approvals.py), the keys' checks
(gateway/identity/keys.py), the alerts' review (gateway/alerts/service.py). The pages turn a form
into those shapes and show what they refuse, as they say it.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from gateway.admin.agencies import service
from gateway.admin.agencies.models import AgencyIn, KeyIn
from gateway.admin.alerts.models import ReviewIn
from gateway.admin.http import bad_cursor, etag
from gateway.admin.problems import Problem, conflict, not_found
from gateway.admin.types import CLIENT_ID
from gateway.alerts import service as alerts_service
from gateway.alerts.models import ALERT_KINDS, ALERT_STATUSES
from gateway.console.context import Console
from gateway.console.inputs import GENERAL, Entry
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.cursors import CursorError
from gateway.identity.keys import KID

CursorQuery = Annotated[str | None, Query(max_length=500)]
AgencyQuery = Annotated[str | None, Query(pattern=rf"^({CLIENT_ID[1:-1]})?$")]  # empty: any


# -- agencies ----------------------------------------------------------------------------------

router = APIRouter(prefix="/agencies")
AGENCY_INPUTS = ("client_id", "name", "kind", "province")
AGENCY_LABELS = {name: f"agencies.{name}" for name in AGENCY_INPUTS}
KEY_LABELS = {"jwk": "agencies.jwk"}
DONE = {"registered", "suspended", "reactivated", "key_registered", "key_retired"}
STATUS_ACTIONS = {"suspend": "suspended", "reactivate": "active"}


def _client_id(client_id: str) -> str:
    if not re.fullmatch(CLIENT_ID, client_id):
        raise not_found("agency", client_id)
    return client_id


@router.get("")
async def list_agencies(
    *,
    request: Request,
    console: ConsoleDep,
    _session: StewardSession,
    status: Annotated[str | None, Query(pattern=r"^(active|suspended)?$")] = None,
    cursor: CursorQuery = None,
) -> Response:
    async with console.admin.transaction() as session:
        items, after = await service.list_agencies(
            session=session, status=status or None, limit=50, cursor=cursor
        )
    return render(request, "agencies.html", nav="agencies", items=items, after=after,
                  chosen_status=status or "")  # fmt: skip


def _form_page(request: Request, entry: Entry, *, status: int) -> Response:
    return render(request, "agencies_form.html", status=status, nav="agencies", entry=entry,
                  labels=AGENCY_LABELS, general=GENERAL)  # fmt: skip


@router.get("/new")
async def new_agency(*, request: Request, _session: StewardSession) -> Response:
    return _form_page(request, Entry(inputs=AGENCY_INPUTS), status=200)


@router.post("/new")
async def register_agency(
    request: Request, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    entry = Entry.posted(form, AGENCY_INPUTS)
    try:
        new = AgencyIn.model_validate(
            {name: value for name, value in entry.values.items() if value or name != "province"}
        )
    except ValidationError as invalid:
        entry.shape_errors(invalid)
        return _form_page(request, entry, status=422)
    try:
        async with console.admin.transaction() as session:
            await service.register_agency(session=session, new=new, decider=steward,
                                          provisioning=console.admin.provisioner)  # fmt: skip
    except Problem as refused:
        entry.refused(refused)
        return _form_page(request, entry, status=refused.status)
    return redirect(f"/console/agencies/{new.client_id}?done=registered")


async def _agency_page(
    request: Request,
    console: Console,
    client_id: str,
    *,
    status: int = 200,
    refusal: Problem | None = None,
    key_entry: Entry | None = None,
) -> Response:
    async with console.admin.transaction() as session:
        agency = await service.get_agency(session=session, client_id=client_id)
        history = await service.agency_versions(session=session, client_id=client_id)
        keys = await service.list_agency_keys(session=session, client_id=client_id)
    done = request.query_params.get("done")
    return render(request, "agencies_one.html", status=status, nav="agencies", agency=agency,
                  history=list(reversed(history)), keys=keys, refusal=refusal,
                  suspended_by=service.suspended_by(history) if agency.status == "suspended"
                  else None, key_entry=key_entry or Entry(inputs=("jwk",)), labels=KEY_LABELS,
                  general=GENERAL, done=done if done in DONE else None,
                  language_path=f"/console/agencies/{client_id}")  # fmt: skip


@router.get("/{client_id}")
async def show_agency(
    *, request: Request, client_id: str, console: ConsoleDep, _session: StewardSession
) -> Response:
    return await _agency_page(request, console, _client_id(client_id))


@router.post("/{client_id}/keys")
async def register_key(
    *, request: Request, client_id: str, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    entry = Entry.posted(form, ("jwk",))
    try:
        jwk = json.loads(entry.value("jwk"))
    except ValueError as error:
        entry.error("jwk", f"not JSON: {error}")
        return await _agency_page(request, console, _client_id(client_id), status=422,
                                  key_entry=entry)  # fmt: skip
    try:
        new = KeyIn.model_validate({"jwk": jwk})
    except ValidationError as invalid:
        entry.shape_errors(invalid)
        return await _agency_page(request, console, _client_id(client_id), status=422,
                                  key_entry=entry)  # fmt: skip
    try:
        async with console.admin.transaction() as session:
            await service.register_agency_key(session=session, client_id=_client_id(client_id),
                                              new=new, actor=steward.subject)  # fmt: skip
    except Problem as refused:
        entry.refused(refused)
        return await _agency_page(request, console, client_id, status=refused.status,
                                  key_entry=entry)  # fmt: skip
    return redirect(f"/console/agencies/{client_id}?done=key_registered")


@router.post("/{client_id}/keys/{kid}/retire")
async def retire_key(
    *, client_id: str, kid: str, console: ConsoleDep, steward: StewardDep, _form: FormDep
) -> Response:
    if not KID.fullmatch(kid):
        raise not_found("key", kid)
    async with console.admin.transaction() as session:
        await service.retire_agency_key(session=session, client_id=_client_id(client_id),
                                        kid=kid, actor=steward.subject)  # fmt: skip
    return redirect(f"/console/agencies/{client_id}?done=key_retired")


@router.post("/{client_id}/{action}")
async def set_status(
    *,
    request: Request,
    client_id: str,
    action: str,
    console: ConsoleDep,
    steward: StewardDep,
    form: FormDep,
) -> Response:
    """Suspend or reactivate: the service's decision (who may, four-eyes, the version read),
    its refusal shown on the agency's page."""
    if action not in STATUS_ACTIONS:
        raise not_found("action", action)
    version = form.get("version")
    try:
        async with console.admin.transaction() as session:
            await service.set_agency_status(
                session=session, client_id=_client_id(client_id), status=STATUS_ACTIONS[action],
                decider=steward, provisioning=console.admin.provisioner,
                if_match=etag(int(version)) if isinstance(version, str) and version.isdigit()
                else None,
            )  # fmt: skip
    except Problem as refused:
        if refused.status == 404:
            raise
        return await _agency_page(request, console, client_id, status=refused.status,
                                  refusal=refused)  # fmt: skip
    done = "suspended" if action == "suspend" else "reactivated"
    return redirect(f"/console/agencies/{client_id}?done={done}")


# -- bulk-access alerts --------------------------------------------------------------------------

alerts = APIRouter(prefix="/alerts")
REVIEW_INPUTS = ("status", "note")


async def _alerts_page(
    request: Request,
    console: Console,
    *,
    status: str | None,
    kind: str | None,
    agency: str | None,
    cursor: str | None,
    code: int = 200,
    failed: int | None = None,
    entry: Entry | None = None,
    refusal: Problem | None = None,
) -> Response:
    try:
        async with console.admin.transaction() as session:
            items, after = await alerts_service.list_alerts(
                session=session, status=status, kind=kind, agency=agency, limit=50, cursor=cursor
            )
    except CursorError as error:
        raise bad_cursor() from error
    done = request.query_params.get("done")
    return render(request, "agencies_alerts.html", status=code, nav="agencies", items=items,
                  after=after, statuses=ALERT_STATUSES, kinds=ALERT_KINDS,
                  chosen={"status": status or "", "kind": kind or "", "agency": agency or ""},
                  failed=failed, entry=entry or Entry(inputs=REVIEW_INPUTS), refusal=refusal,
                  general=GENERAL, done=done if done in {"reviewed", "dismissed"} else None,
                  measure_text=measure_text,
                  language_path="/console/alerts")  # fmt: skip


@alerts.get("")
async def list_alerts(
    *,
    request: Request,
    console: ConsoleDep,
    _session: StewardSession,
    status: Annotated[str | None, Query(pattern=rf"^({'|'.join(ALERT_STATUSES)})?$")] = "open",
    kind: Annotated[str | None, Query(pattern=rf"^({'|'.join(ALERT_KINDS)})?$")] = None,
    agency: AgencyQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """Open alerts first of all (what waits for a steward); any status on request."""
    return await _alerts_page(request, console, status=status or None, kind=kind or None,
                              agency=agency or None, cursor=cursor)  # fmt: skip


@alerts.post("/{alert_id}/review")
async def review_alert(
    *, request: Request, alert_id: int, console: ConsoleDep, steward: StewardDep, form: FormDep
) -> Response:
    """Closes an open alert as reviewed or dismissed, with a note (the API's shape and rule)."""
    entry = Entry.posted(form, REVIEW_INPUTS)
    problem: Problem | None = None
    try:
        review = ReviewIn.model_validate(entry.values)
    except ValidationError as invalid:
        entry.shape_errors(invalid)
    else:
        try:
            async with console.admin.transaction() as session:
                await alerts_service.review(session=session, alert_id=alert_id,
                                            status=review.status, note=review.note,
                                            actor=steward.subject)  # fmt: skip
        except alerts_service.AlertNotFound as error:
            raise not_found("alert", str(alert_id)) from error
        except alerts_service.AlertClosed as error:
            problem = conflict(str(error))
        else:
            services = console.admin.services
            await alerts_service.refresh_gauges(sessions=services.sessions,
                                                metrics=services.metrics)  # fmt: skip
            return redirect(f"/console/alerts?done={review.status}")
    return await _alerts_page(request, console, status="open", kind=None, agency=None,
                              cursor=None, code=problem.status if problem else 422,
                              failed=alert_id, entry=entry, refusal=problem)  # fmt: skip


def measure_text(measure: dict[str, Any]) -> str:
    """An alert's figures as one line (what it was raised on and the thresholds applied)."""
    return ", ".join(f"{name}: {value}" for name, value in sorted(measure.items()))
