"""Agency documents as the steward API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.admin.types import ClientId, PurposeCode
from gateway.policy.models import AgencyDocument

# A document's text: a GraphQL query, bounded like any request's (gateway.graph.limits still
# applies when it runs)
DocumentText = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
OPERATION_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class DocumentIn(BaseModel):
    """A document an agency asks to run for a purpose: its text holds one named query."""

    model_config = ConfigDict(extra="forbid")

    agency: ClientId
    purpose: PurposeCode
    text: DocumentText


class DocumentChange(BaseModel):
    """A new text (and purpose) for a document: a new proposal, reviewed afresh."""

    model_config = ConfigDict(extra="forbid")

    purpose: PurposeCode | None = None
    text: DocumentText


class DocumentOut(BaseModel):
    document_id: str
    agency: str
    purpose: str
    name: str
    text: str
    reaches: list[str] = Field(description="The subject types it reads.")
    needs: list[str] = Field(description="The registries whose stewards approve it.")
    status: str
    approvals: dict[str, str] = Field(description="Registry → the steward who approved for it.")
    created_by: str = Field(description="Who proposed this text (or resubmitted it).")
    changed_by: str | None
    note: str | None
    version: int
    valid_from: datetime
    valid_to: datetime | None

    @classmethod
    def of(cls, document: AgencyDocument, needs: list[str]) -> DocumentOut:
        return cls(
            document_id=document.document_id,
            agency=document.agency,
            purpose=document.purpose,
            name=document.name,
            text=document.text,
            reaches=list(document.reaches),
            needs=needs,
            status=document.status,
            approvals=dict(document.approvals or {}),
            created_by=document.created_by,
            changed_by=document.changed_by,
            note=document.note,
            version=document.version_id,
            valid_from=document.valid_from,
            valid_to=document.valid_to,
        )
