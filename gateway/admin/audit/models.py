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
    outcome: str  # disclosed, refused, absent, oversight or self

    @classmethod
    def of(cls, entry: AccessLogEntry) -> AccessLogOut:
        fields = {name: getattr(entry, name) for name in cls.model_fields if name != "outcome"}
        return cls(**fields, outcome=(entry.decision or {}).get("outcome", "disclosed"))


class DailyCountOut(BaseModel):
    agency: str
    day: date
    entries: int
    refused: int  # subjects refused whole
    absent: int  # lookups of keys the registry does not hold (enumeration attempts)
