"""A decision explained, field by field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class FieldExplanation(BaseModel):
    field: str
    outcome: str  # allow, mask or deny
    reason: str
    legal_basis: list[str]
    mask: str | None
    considered: list[dict[str, Any]]  # each agreement of the scope, and why it applied or not


class ExplainOut(BaseModel):
    agency: str
    agency_status: str  # active, suspended, or unknown (no agreement is handed to the engine)
    purpose: str
    subject_type: str
    via: str | None
    at: datetime
    fields: list[FieldExplanation]
