"""Agencies as the steward API shows and takes them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from gateway.admin.types import ClientId, Label
from gateway.policy.models import Agency


class AgencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: ClientId
    name: Label
    kind: Label


class AgencyChange(BaseModel):
    """Only what changes; the client id never does."""

    model_config = ConfigDict(extra="forbid")

    name: Label | None = None
    kind: Label | None = None


class AgencyOut(BaseModel):
    client_id: str
    name: str
    kind: str
    status: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    changed_by: str | None

    @classmethod
    def of(cls, agency: Agency) -> AgencyOut:
        return cls(
            client_id=agency.client_id,
            name=agency.name,
            kind=agency.kind,
            status=agency.status,
            version=agency.version_id,
            valid_from=agency.valid_from,
            valid_to=agency.valid_to,
            changed_by=agency.changed_by,
        )
