"""`/admin/corrections`: citizens' correction requests, forwarded to the source agency or
rejected with a reason by a steward of the registry that holds the field (docs/corrections.md).

A request names a resident, the value disputed and the citizen's explanation: every read is an
`oversight` entry in the access log (under the resident when it concerns one), written before
the answer leaves. Each decision is also a step of the request's own history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from gateway.admin.approvals import holds
from gateway.admin.context import Admin
from gateway.admin.corrections.models import CorrectionOut, ForwardIn, RejectIn
from gateway.admin.http import AdminDep, Cursor, Limit, Page, StewardDep, bad_cursor
from gateway.admin.problems import Problem, bad_input, conflict, forbidden, not_found, responses
from gateway.corrections import service
from gateway.corrections.models import STATUSES, CorrectionRequest
from gateway.cursors import CursorError
from gateway.identity.principal import Principal
from gateway.subjects import STEWARDED_DOMAINS, SUBJECT_KINDS

router = APIRouter(prefix="/corrections", tags=["corrections"])
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The request's id.")]
Status = Annotated[
    str | None,
    Query(pattern=rf"^({'|'.join(STATUSES)})$", description="reported, forwarded, corrected…"),
]
Registry = Annotated[
    str | None,
    Query(
        pattern=rf"^({'|'.join(sorted(STEWARDED_DOMAINS))})$",
        description="The registry whose stewards handle it.",
    ),
]
SubjectId = Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{1,40}$")]
FieldName = Annotated[str | None, Query(pattern=r"^[a-zA-Z][a-zA-Z0-9]{0,63}$")]


def _audit_subject(request: CorrectionRequest) -> tuple[str, str]:
    return SUBJECT_KINDS[request.subject_type].audit_name, request.subject_id


def may_decide(steward: Principal, request: CorrectionRequest, action: str) -> None:
    """A nationwide steward of the registry holding the field decides (a resident's record
    belongs to no agency's province); anyone else is refused with the scope named."""
    if not holds(steward, request.domain, None):
        raise forbidden(
            f"to {action} this correction request needs a steward of: {request.domain} "
            "(nationwide); your roles hold none",
            "scope",
        )


def refusal(error: service.CorrectionRefused) -> Problem:
    return bad_input(error.argument, f"{error} ({error.code})".partition(": ")[2])


@router.get("", responses=responses(503))
async def list_corrections(
    *,
    admin: AdminDep,
    steward: StewardDep,
    status: Status = None,
    registry: Registry = None,
    subject_id: SubjectId = None,
    field: FieldName = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CorrectionOut]:
    """Newest first. Each search is an `oversight` entry (under the resident when one is
    searched for)."""
    try:
        async with admin.transaction() as session:
            items, after = await service.list_requests(
                session=session, status=status, domain=registry, subject_id=subject_id,
                field=field, limit=limit, cursor=cursor,
            )  # fmt: skip
    except CursorError as error:
        raise bad_cursor() from error
    await admin.record_read(
        steward=steward,
        read="corrections.search",
        filters={"status": status, "registry": registry, "subject_id": subject_id,
                 "field": field},
        returned=len(items),
        subject=("resident", subject_id) if subject_id else None,
    )  # fmt: skip
    return Page(items=[CorrectionOut.of(r) for r in items], next_cursor=after)


@router.get("/{request_id}", responses=responses(404, 503))
async def get_correction(
    *, admin: AdminDep, steward: StewardDep, request_id: RequestId
) -> CorrectionOut:
    """One request with every step of its history."""
    try:
        async with admin.transaction() as session:
            request = await service.get_request(session=session, request_id=request_id)
            steps = await service.history(session=session, request_ids=[request_id])
    except service.CorrectionNotFound as error:
        raise not_found("correction request", str(request_id)) from error
    await admin.record_read(
        steward=steward, read="corrections.read", filters={"request_id": request_id},
        returned=1, subject=_audit_subject(request),
    )  # fmt: skip
    return CorrectionOut.of(request, steps.get(request_id, []))


@router.post("/{request_id}/forward", responses=responses(404, 409, 503))
async def forward_correction(
    *, admin: AdminDep, steward: StewardDep, request_id: RequestId, forward: ForwardIn
) -> CorrectionOut:
    """A reported request sent on to the agency keeping the source record (`source_agency`),
    with a note for it; the field stays disputed until a load corrects it. A steward of the
    field's registry, nationwide (403 `scope` otherwise); 409 unless it is `reported`."""
    return await _decide(
        admin, steward, request_id, "forward",
        partial(service.forward, source_agency=forward.source_agency, note=forward.note),
    )  # fmt: skip


@router.post("/{request_id}/reject", responses=responses(404, 409, 503))
async def reject_correction(
    *, admin: AdminDep, steward: StewardDep, request_id: RequestId, reject: RejectIn
) -> CorrectionOut:
    """The dispute closed without a change, saying why: the citizen sees the reason, and the
    field's flag is gone from the next request. Decided as a forward is; 409 once settled."""
    return await _decide(
        admin, steward, request_id, "reject", partial(service.reject, reason=reject.reason)
    )


async def _decide(
    admin: Admin,
    steward: Principal,
    request_id: int,
    action: str,
    decision: Callable[..., Awaitable[Any]],
) -> CorrectionOut:
    """A steward's decision on one request (`decision`, the service's), once `may_decide`
    allows it; its history returned, the read logged under the resident."""
    try:
        async with admin.transaction() as session:
            request = await service.get_request(session=session, request_id=request_id)
            may_decide(steward, request, action)
            request = await decision(
                session=session, request_id=request_id, steward=steward.subject
            )
            steps = await service.history(session=session, request_ids=[request_id])
    except service.CorrectionNotFound as error:
        raise not_found("correction request", str(request_id)) from error
    except service.CorrectionSettled as error:
        raise conflict(str(error)) from error
    except service.CorrectionRefused as error:
        raise refusal(error) from error
    await admin.record_read(
        steward=steward, read=f"corrections.{action}", filters={"request_id": request_id},
        returned=1, subject=_audit_subject(request),
    )  # fmt: skip
    return CorrectionOut.of(request, steps.get(request_id, []))
