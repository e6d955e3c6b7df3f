"""Purposes (the catalogue `X-Purpose` codes come from) and prefill form templates, each as in
force and as proposed (a change awaiting approval: gateway.admin.purposes.proposals)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.admin.purposes import proposals
from gateway.admin.types import Label, PurposeCode, SubjectType
from gateway.policy.models import Proposal, Purpose

# What a list item is: the version in force (maybe with a change pending), or only proposed
Standing = Literal["in_force", "proposed"]


class ProposalOut(BaseModel):
    """A change awaiting approval, or its outcome. `etag` is what approving or rejecting it
    names (If-Match); `needs` are the scopes whose stewards must approve (a registry, or
    `platform`: the platform's administrator) and `approvals` who approved for which."""

    code: str
    status: Literal["submitted", "approved", "rejected"]
    needs: list[str]
    approvals: dict[str, str]
    proposed_by: str
    changed_by: str | None
    note: str | None
    version: int
    etag: str
    valid_from: datetime
    valid_to: datetime | None

    @staticmethod
    def common(proposal: Proposal) -> dict[str, Any]:
        return {
            "code": proposal.code,
            "status": proposal.status,
            "needs": list(proposal.needs),
            "approvals": dict(proposal.approvals or {}),
            "proposed_by": proposal.proposed_by,
            "changed_by": proposal.changed_by,
            "note": proposal.note,
            "version": proposal.version_id,
            "etag": proposals.etag(proposal),
            "valid_from": proposal.valid_from,
            "valid_to": proposal.valid_to,
        }


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


class PurposeValues(BaseModel):
    title: str
    procedure: str
    case_bound: bool


class PurposeProposalOut(ProposalOut):
    proposed: PurposeValues

    @classmethod
    def of(cls, proposal: Proposal) -> PurposeProposalOut:
        return cls(proposed=PurposeValues.model_validate(proposal.document), **cls.common(proposal))


class PurposeOut(BaseModel):
    """A purpose in force (`status: in_force`), with the change pending for it if any; or a new
    purpose only proposed (`status: proposed`: the values are the proposal's, and there is no
    version in force)."""

    code: str
    title: str
    procedure: str
    case_bound: bool
    status: Standing = "in_force"
    version: int | None
    valid_from: datetime | None
    valid_to: datetime | None
    changed_by: str | None  # who proposed the version in force
    approved_by: str | None  # who approved it
    pending: PurposeProposalOut | None = None

    @classmethod
    def of(cls, purpose: Purpose, pending: Proposal | None = None) -> PurposeOut:
        return cls(
            code=purpose.code,
            title=purpose.title,
            procedure=purpose.procedure,
            case_bound=purpose.case_bound,
            version=purpose.version_id,
            valid_from=purpose.valid_from,
            valid_to=purpose.valid_to,
            changed_by=purpose.changed_by,
            approved_by=purpose.approved_by,
            pending=PurposeProposalOut.of(pending) if pending is not None else None,
        )

    @classmethod
    def proposed(cls, pending: Proposal) -> PurposeOut:
        out = PurposeProposalOut.of(pending)
        return cls(
            code=pending.code,
            **out.proposed.model_dump(),
            status="proposed",
            version=None,
            valid_from=None,
            valid_to=None,
            changed_by=None,
            approved_by=None,
            pending=out,
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


class FormTemplateOut(BaseModel):
    title: str
    procedure: str
    legal_reference: str | None = None
    purpose: str
    subject_type: str
    fields: list[dict[str, Any]]


class FormProposalOut(ProposalOut):
    proposed: FormTemplateOut

    @classmethod
    def of(cls, proposal: Proposal) -> FormProposalOut:
        return cls(
            proposed=FormTemplateOut.model_validate(proposal.document), **cls.common(proposal)
        )


class FormOut(BaseModel):
    """A form in force (`status: in_force`; `source`: a file of `graphql/forms/`, or a
    steward's approved version), with the change pending for it if any; or a new form only
    proposed (`status: proposed`: the template is the proposal's, and nothing runs yet)."""

    code: str
    title: str
    procedure: str
    legal_reference: str | None = None
    purpose: str
    subject_type: str
    fields: list[dict[str, Any]]
    source: Literal["file", "steward"]
    status: Standing = "in_force"
    changed_by: str | None = None  # who proposed the version in force (a steward's)
    approved_by: str | None = None  # who approved it
    pending: FormProposalOut | None = None
