"""Purposes (the catalogue `X-Purpose` codes come from) and prefill form templates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.admin.types import Label, PurposeCode, SubjectType
from gateway.policy.models import Purpose


class PurposeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: PurposeCode
    title: Label
    procedure: Label
    case_bound: bool = Field(
        default=False,
        description="Every request for it must name a registered one-stop dossier (X-Dossier) "
        "and reaches by key only that dossier's subjects.",
    )


class PurposeChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Label | None = None
    procedure: Label | None = None
    case_bound: bool | None = None


class PurposeOut(BaseModel):
    code: str
    title: str
    procedure: str
    case_bound: bool
    version: int
    valid_from: datetime
    valid_to: datetime | None
    changed_by: str | None

    @classmethod
    def of(cls, purpose: Purpose) -> PurposeOut:
        return cls(
            code=purpose.code,
            title=purpose.title,
            procedure=purpose.procedure,
            case_bound=purpose.case_bound,
            version=purpose.version_id,
            valid_from=purpose.valid_from,
            valid_to=purpose.valid_to,
            changed_by=purpose.changed_by,
        )


FormKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
FormPathText = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-zA-Z][a-zA-Z0-9]*(\[\d{1,3}\])?(\.[a-zA-Z][a-zA-Z0-9]*(\[\d{1,3}\])?){0,9}$"
    ),
]


class FormFieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: FormKey
    label: Label
    path: FormPathText


class FormIn(BaseModel):
    """A form template, as in `graphql/forms/*.yaml` (the code is in the URL)."""

    model_config = ConfigDict(extra="forbid")

    title: Label
    procedure: Label
    legal_reference: Label | None = None
    purpose: PurposeCode
    subject_type: SubjectType
    fields: Annotated[list[FormFieldIn], Field(min_length=1, max_length=200)]


class FormOut(BaseModel):
    code: str
    title: str
    procedure: str
    legal_reference: str | None = None
    purpose: str
    subject_type: str
    fields: list[dict[str, Any]]
    source: Literal["file", "steward"]
