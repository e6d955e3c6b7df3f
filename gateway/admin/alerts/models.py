"""Bulk-access alerts as the steward API shows them, and a steward's review of one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from gateway.alerts.models import AccessAlert

# Free text over several lines, but no other control character (PostgreSQL refuses NUL: a 422
# here rather than a 500 there).
NOTE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$"
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NOTE)]


class AlertOut(BaseModel):
    alert_id: int
    kind: str  # officer_volume, off_hours, absent_lookups or dossier_breadth
    agency: str
    officer: str | None  # None: entries that named no officer (or a dossier's alert)
    dossier: str | None
    window_start: datetime
    window_end: datetime
    entries: int
    subjects: int  # distinct subjects among the entries
    measure: dict[str, Any]  # the figures the alert was raised on, and the thresholds applied
    raised_at: datetime
    status: str  # open, reviewed or dismissed
    reviewed_by: str | None
    reviewed_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, alert: AccessAlert) -> AlertOut:
        return cls(**{name: getattr(alert, name) for name in cls.model_fields})


class ReviewIn(BaseModel):
    """A steward's conclusion on an open alert: looked into (`reviewed`) or not a concern
    (`dismissed`), and why."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["reviewed", "dismissed"]
    note: Note
