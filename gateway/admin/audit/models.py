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
    outcome: str  # disclosed, refused, absent, oversight, self or dossier
    dossier: str | None  # the one-stop dossier the request served
    officer_verified_by: str | None  # assertion, token, or header (dev: unverified)
    officer_name: str | None
    officer_unit: str | None

    @classmethod
    def of(cls, entry: AccessLogEntry) -> AccessLogOut:
        decision = entry.decision or {}
        officer = decision.get("officer") or {}
        fields = {name: getattr(entry, name) for name in _COLUMNS}
        return cls(
            **fields,
            outcome=decision.get("outcome", "disclosed"),
            dossier=decision.get("dossier"),
            officer_verified_by=officer.get("verified"),
            officer_name=officer.get("name"),
            officer_unit=officer.get("unit"),
        )


_COLUMNS = tuple(
    name
    for name in AccessLogOut.model_fields
    if name not in {"outcome", "dossier"} and not name.startswith("officer_")
)


class DailyCountOut(BaseModel):
    agency: str
    day: date
    entries: int
    refused: int  # subjects refused whole
    absent: int  # lookups of keys the registry does not hold (enumeration attempts)
    dossier: str | None = None  # with by_dossier: the dossier served
