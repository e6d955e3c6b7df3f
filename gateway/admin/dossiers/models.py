"""Dossiers as the steward API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from gateway.dossiers.models import Dossier


class DossierOut(BaseModel):
    number: str
    agency: str
    purpose: str
    procedure: str | None
    subjects: list[dict[str, Any]]  # type, id, role
    officer: dict[str, Any]  # the opening officer: id, name, unit, how verified
    opened_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    request_id: str

    @classmethod
    def of(cls, dossier: Dossier) -> DossierOut:
        return cls.model_validate(dossier, from_attributes=True)
