"""`/console/corrections`: citizens' correction requests for stewards — listed by status, one
with its disputed value and history, forwarded to the source agency or rejected with a reason
(docs/corrections.md).

The pages run the admin API's rules (gateway/admin/corrections/views.py: a nationwide steward of
the field's registry decides) and the service's; refusals are shown in their words. Every view
shows a citizen's data: each is an `oversight` access-log entry (`Admin.record_read`), under the
resident for one request, written before the page leaves.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from gateway.admin.corrections.views import may_decide
from gateway.admin.problems import AdminCode, Problem
from gateway.console.context import Console
from gateway.console.web import ConsoleDep, FormDep, StewardDep, redirect, render
from gateway.corrections import service
from gateway.corrections.models import STATUSES
from gateway.identity.principal import Principal
from gateway.subjects import SUBJECT_KINDS

router = APIRouter(prefix="/corrections")
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PAGE = 50


@router.get("")
async def corrections(
    *,
    request: Request,
    console: ConsoleDep,
    steward: StewardDep,
    status: Annotated[str, Query(pattern=rf"^({'|'.join(STATUSES)}|)$")] = "reported",
) -> Response:
    async with console.admin.transaction() as db:
        items, _ = await service.list_requests(
            session=db, status=status or None, domain=None, subject_id=None, field=None,
            limit=PAGE, cursor=None,
        )  # fmt: skip
    await console.admin.record_read(steward=steward, read="console corrections",
                                    filters={"status": status or None},
                                    returned=len(items))  # fmt: skip
    return render(request, "corrections.html", nav="corrections", items=items, shown=status,
                  statuses=STATUSES)  # fmt: skip


async def _one(
    request: Request,
    console: Console,
    steward: Principal,
    request_id: int,
    *,
    refusal: str = "",
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    try:
        async with console.admin.transaction() as db:
            record = await service.get_request(session=db, request_id=request_id)
            steps = await service.history(session=db, request_ids=[request_id])
    except service.CorrectionNotFound as error:
        raise Problem(404, AdminCode.NOT_FOUND, f"no correction request {request_id}") from error
    await console.admin.record_read(
        steward=steward, read="console correction", filters={"request_id": request_id},
        returned=1, subject=(SUBJECT_KINDS[record.subject_type].audit_name, record.subject_id),
    )  # fmt: skip
    return render(request, "corrections_one.html", status=status, nav="corrections",
                  record=record, steps=steps.get(request_id, []), refusal=refusal,
                  typed=typed or {})  # fmt: skip


@router.get("/{request_id}")
async def correction(
    *, request: Request, console: ConsoleDep, steward: StewardDep, request_id: RequestId
) -> Response:
    return await _one(request, console, steward, request_id)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/{request_id}/{action}")
async def decide(
    *,
    request: Request,
    console: ConsoleDep,
    steward: StewardDep,
    form: FormDep,
    request_id: RequestId,
    action: Annotated[str, Path(pattern=r"^(forward|reject)$")],
) -> Response:
    typed = {name: _text(form, name) for name in ("source_agency", "note", "reason")}
    try:
        async with console.admin.transaction() as db:
            record = await service.get_request(session=db, request_id=request_id)
            may_decide(steward, record, action)
            if action == "forward":
                await service.forward(session=db, request_id=request_id,
                                      steward=steward.subject,
                                      source_agency=typed["source_agency"],
                                      note=typed["note"])  # fmt: skip
            else:
                await service.reject(session=db, request_id=request_id, steward=steward.subject,
                                     reason=typed["reason"])  # fmt: skip
    except service.CorrectionNotFound:
        return await _one(request, console, steward, request_id)  # 404 there
    except Problem as refused:  # scope
        return await _one(request, console, steward, request_id, refusal=refused.detail,
                          typed=typed, status=refused.status)  # fmt: skip
    except service.CorrectionSettled as refused:
        return await _one(request, console, steward, request_id, refusal=str(refused),
                          typed=typed, status=409)  # fmt: skip
    except service.CorrectionRefused as refused:
        return await _one(request, console, steward, request_id,
                          refusal=f"{refused} ({refused.code})", typed=typed,
                          status=422)  # fmt: skip
    return redirect(f"/console/corrections/{request_id}")
