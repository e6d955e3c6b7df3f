"""Input shapes shared by the concerns. Every string is bounded and free of control characters
(PostgreSQL refuses NUL in text: it must be a 422 here, not a 500 there)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, StringConstraints

from gateway.identity.officers import OFFICER_ID
from gateway.subjects import SUBJECT_KINDS, SUBJECT_TYPE_PATTERN

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
CLIENT_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
PURPOSE_CODE = r"^[A-Z0-9][A-Z0-9_-]{1,31}$"  # the X-Purpose header's pattern
SUBJECT_TYPE = SUBJECT_TYPE_PATTERN  # the subject kinds of gateway.subjects
# The access log's names of them, and of the rows of reads that concern no single subject
SUBJECT_AUDIT_NAME = rf"^({'|'.join(k.audit_name for k in SUBJECT_KINDS.values())}|query)$"
# An agreement's `via` as written (`Type.field`, `Type.field.field`); which relations exist is
# gateway.subjects' to say, and the services check it with a message that lists them
RELATION = r"^[A-Z][A-Za-z]{1,31}(\.[a-zA-Z][a-zA-Z0-9]{0,63}){1,3}$"
FORM_CODE = r"^[A-Z0-9][A-Z0-9_-]{1,31}$"

Label = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=PRINTABLE)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=PRINTABLE)]
ClientId = Annotated[str, StringConstraints(pattern=CLIENT_ID)]
PurposeCode = Annotated[str, StringConstraints(pattern=PURPOSE_CODE)]
SubjectType = Annotated[str, StringConstraints(pattern=SUBJECT_TYPE)]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9]{0,63}$")]
OFFICER = rf"^{OFFICER_ID.pattern}$"  # an officer id, whatever names the officer
Officer = Annotated[str, StringConstraints(pattern=OFFICER)]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE)]

ClientIdPath = Annotated[str, Path(pattern=CLIENT_ID, description="The agency's client id.")]
PurposePath = Annotated[str, Path(pattern=PURPOSE_CODE, description="A purpose code.")]
FormPath = Annotated[str, Path(pattern=FORM_CODE, description="A form code, e.g. CT01.")]
AGREEMENT_ID = rf"^{CLIENT_ID[1:-1]}/{PURPOSE_CODE[1:-1]}/{SUBJECT_TYPE[1:-1]}$"
AgreementIdPath = Annotated[
    str,
    Path(pattern=AGREEMENT_ID, description="`agency/purpose/type`, e.g. thue-hcm/DKKD/Enterprise."),
]
Relation = Annotated[str, StringConstraints(pattern=RELATION)]

# Dates the Rego can read: it parses RFC 3339 into int64 nanoseconds (years 1678–2261), and an
# agreement it cannot read would make every decision for that agency fail.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _in_policy_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000-01-01 and 2200-01-01")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_policy_range)]


def _day_in_range(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("must be between 2000-01-01 and 2200-01-01")
    return value


Day = Annotated[date, AfterValidator(_day_in_range)]
