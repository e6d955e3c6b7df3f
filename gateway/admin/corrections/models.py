"""Correction requests as the steward API shows them, and a steward's decisions on one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from gateway.admin.types import CLIENT_ID
from gateway.corrections.models import CorrectionEvent, CorrectionRequest

# Free text over several lines, but no other control character (PostgreSQL refuses NUL: a 422
# here rather than a 500 there)
NOTE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$"
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NOTE)]


class StepOut(BaseModel):
    step: str  # reported, forwarded, corrected, rejected
    actor: str  # citizen-<id>, officer:<agency>/<officer>, a steward's sub, etl:<run id>
    at: datetime
    detail: dict[str, Any]


class CorrectionOut(BaseModel):
    request_id: int
    subject_type: str
    subject_id: str
    field: str
    registry: str  # whose stewards handle it: population, enterprise, land
    disputed_value: dict[str, Any]  # the field's registry columns when it was reported
    disputed_version_id: int
    explanation: str
    reported_by: str  # citizen, or officer (with the citizen present)
    reporter: dict[str, Any]
    status: str  # reported, forwarded, corrected, rejected
    source_agency: str | None
    forward_note: str | None
    forwarded_by: str | None
    rejection_reason: str | None
    rejected_by: str | None
    corrected_version_id: int | None
    created_at: datetime
    updated_at: datetime
    history: list[StepOut] | None = None  # one request's; not in lists

    @classmethod
    def of(
        cls, request: CorrectionRequest, steps: list[CorrectionEvent] | None = None
    ) -> CorrectionOut:
        names = cls.model_fields.keys() - {"registry", "history"}
        return cls(
            **{name: getattr(request, name) for name in names},
            registry=request.domain,
            history=None
            if steps is None
            else [StepOut(step=e.step, actor=e.actor, at=e.at, detail=e.detail) for e in steps],
        )


class ForwardIn(BaseModel):
    """Sent on to the agency that keeps the source record, with what it needs to know."""

    model_config = ConfigDict(extra="forbid")

    source_agency: Annotated[str, StringConstraints(pattern=CLIENT_ID)]
    note: Note


class RejectIn(BaseModel):
    """Closed without a change: the reason is shown to the citizen."""

    model_config = ConfigDict(extra="forbid")

    reason: Note
