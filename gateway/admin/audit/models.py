"""Access-log entries and counts as the steward API shows them."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from gateway.audit.models import AccessLogEntry


class AccessLogOut(BaseModel):
    entry_id: int
    occurred_at: datetime
    request_id: str
    agency: str
    officer: str | None
    purpose: str | None
    legal_basis: str | None
    subject_type: str
    subject_id: str
    operation: str | None
    fields_given: list[str]
    fields_masked: list[str]
    fields_denied: list[str]

    @classmethod
    def of(cls, entry: AccessLogEntry) -> AccessLogOut:
        return cls.model_validate(entry, from_attributes=True)


class DailyCountOut(BaseModel):
    agency: str
    day: date
    entries: int
