"""What a citizen may consent to: the one rule every way of recording a consent goes through.

A consent opens nothing by itself: policies/authz.rego gives an agency, for a purpose, the
fields an approved agreement in force lists *with consent* and the subject consented to, never
more. So a consent is recorded only where it can mean something and says what it will do:

- the subject is a valid personal ID;
- it ends (with a time zone) after the moment it is granted;
- it names at least one field and at most `MAX_CONSENT_FIELDS`;
- the agency is registered and active, the purpose is in the catalogue, and an approved
  agreement of that agency for that purpose, in force now, gives a resident's fields only with
  the resident's consent (`consent_scopes`);
- every field it names is one that agreement lists.

A refusal is a `ConsentRefused` naming the input it concerns (`argument`) and a stable `code`;
each caller says it in its own shape: GraphQL's `grantConsent` (gateway/graph/schema.py), the
stewards' paper consents (gateway/admin/consents/service.py), the citizens' page
(gateway/console/me_data.py). `grant_consent` (gateway/policy/service.py) checks it before it
writes, so no path records a consent the rule refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.policy.models import Agency, Agreement, Purpose
from registries.history import is_current
from registries.identifiers import IdentifierError, validate_personal_id

# As many as a batch of keys (gateway/graph/schema.py, MAX_BATCH): an agreement lists fewer
MAX_CONSENT_FIELDS = 100
# Consents are given by residents, about their own record (gateway/subjects.py)
CONSENTING_TYPE = "Resident"


class ConsentRefused(ValueError):  # noqa: N818 - an outcome, said to whoever asked
    """A consent the rule does not let be recorded. `argument` is the input it concerns
    (`subject_id`, `agency`, `purpose`, `fields`, `expires_at`), `code` is stable, str() is
    for people; `agency`, `purpose` and `fields` (the fields refused) say what was asked."""

    def __init__(
        self,
        code: str,
        argument: str,
        message: str,
        *,
        agency: str = "",
        purpose: str = "",
        fields: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.argument = argument
        self.agency = agency
        self.purpose = purpose
        self.fields = tuple(fields)


class Offered(Protocol):
    """Whatever names an agency, a purpose and the fields a consent to it may open."""

    @property
    def agency(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def fields(self) -> Sequence[str]: ...


Scope = TypeVar("Scope", bound=Offered)


@dataclass(frozen=True)
class ConsentScope:
    """An agency and a purpose that approved agreements in force, of an active agency, let see
    a resident's fields with the resident's consent, with those fields and legal bases."""

    agency: str
    purpose: str
    fields: tuple[str, ...]  # what those agreements list, in their order
    legal_basis: str


async def consent_scopes(
    *, session: AsyncSession, agency: str | None = None, purpose: str | None = None
) -> list[ConsentScope]:
    """Everything a citizen may consent to now (for one agency and purpose if given), ordered by
    agency and purpose. "Now" is the database's clock, as for every agreement's validity."""
    now = func.now()
    query = (
        select(Agreement)
        .join(Agency, (Agency.client_id == Agreement.agency) & is_current(Agency))
        .join(Purpose, (Purpose.code == Agreement.purpose) & is_current(Purpose))
        .where(
            is_current(Agreement),
            Agreement.subject_type == CONSENTING_TYPE,
            Agreement.consent_required.is_(True),
            Agreement.status == "approved",
            Agreement.effective_from <= now,
            (Agreement.effective_to.is_(None)) | (Agreement.effective_to > now),
            Agency.status == "active",
        )
        .order_by(Agreement.agency, Agreement.purpose, Agreement.agreement_id)
    )
    if agency is not None:
        query = query.where(Agreement.agency == agency)
    if purpose is not None:
        query = query.where(Agreement.purpose == purpose)
    found: dict[tuple[str, str], ConsentScope] = {}
    for agreement in (await session.execute(query)).scalars():
        key = (agreement.agency, agreement.purpose)
        before = found.get(key)
        fields = list(before.fields) if before else []
        fields += [f for f in agreement.fields if f not in fields]
        bases = [before.legal_basis] if before else []
        found[key] = ConsentScope(
            agency=agreement.agency,
            purpose=agreement.purpose,
            fields=tuple(fields),
            legal_basis="; ".join(dict.fromkeys([*bases, agreement.legal_basis])),
        )
    return list(found.values())


def consent_within(
    scopes: Sequence[Scope], *, agency: str, purpose: str, fields: Sequence[str]
) -> Scope:
    """The scope a consent to these fields falls within, or ConsentRefused: no scope for the
    agency and purpose, no field or too many, a field the scope does not list. The part of the
    rule that needs only `consent_scopes`' answer (the citizens' page holds it already)."""
    scope = next((s for s in scopes if s.agency == agency and s.purpose == purpose), None)
    if scope is None:
        raise ConsentRefused(
            "CONSENT_NO_AGREEMENT",
            "agency",
            f"no approved agreement in force lets agency {agency!r} see a resident's fields "
            f"with the resident's consent for purpose {purpose!r}",
            agency=agency,
            purpose=purpose,
        )
    if not fields:
        raise ConsentRefused(
            "CONSENT_NO_FIELDS", "fields", "name at least one field", agency=agency, purpose=purpose
        )
    if len(fields) > MAX_CONSENT_FIELDS:
        raise ConsentRefused(
            "CONSENT_TOO_MANY_FIELDS",
            "fields",
            f"at most {MAX_CONSENT_FIELDS} fields, got {len(fields)}",
            agency=agency,
            purpose=purpose,
            fields=fields[MAX_CONSENT_FIELDS:],
        )
    outside = list(dict.fromkeys(f for f in fields if f not in scope.fields))
    if outside:
        raise ConsentRefused(
            "CONSENT_OUTSIDE_AGREEMENT",
            "fields",
            f"the agreement does not let agency {agency!r} see {', '.join(outside)} even with "
            f"consent (it lists {', '.join(scope.fields)})",
            agency=agency,
            purpose=purpose,
            fields=outside,
        )
    return scope


async def check_consent(
    *,
    session: AsyncSession,
    subject_id: str,
    agency: str,
    purpose: str,
    fields: Sequence[str],
    expires_at: datetime,
    granted_at: datetime,
) -> ConsentScope:
    """The whole rule for a consent granted at `granted_at`: the scope it falls within, or
    ConsentRefused. The subject and the end are checked first (they need no database), then
    the agreements (`consent_within`); a refusal for want of an agreement says whether the
    agency or the purpose is the reason."""
    try:
        validate_personal_id(subject_id)
    except IdentifierError as error:
        raise ConsentRefused(error.code, "subject_id", str(error)) from error
    if expires_at.tzinfo is None:
        raise ConsentRefused(
            "CONSENT_EXPIRY_ZONE", "expires_at", "give a time zone (e.g. 2027-01-01T00:00:00Z)"
        )
    # the same comparison as the consents table's check `expires_after_granted`
    if expires_at <= granted_at:
        raise ConsentRefused("CONSENT_EXPIRED", "expires_at", "must be in the future")
    scopes = await consent_scopes(session=session, agency=agency, purpose=purpose)
    try:
        return consent_within(scopes, agency=agency, purpose=purpose, fields=fields)
    except ConsentRefused as refused:
        if refused.code == "CONSENT_NO_AGREEMENT":
            await _why_no_agreement(session, agency=agency, purpose=purpose)
        raise


async def _why_no_agreement(session: AsyncSession, *, agency: str, purpose: str) -> None:
    """ConsentRefused naming the agency (unknown or suspended) or the purpose (not in the
    catalogue) when either is why no agreement applies; nothing when both stand."""
    status = (
        await session.execute(
            select(Agency.status).where(Agency.client_id == agency, is_current(Agency))
        )
    ).scalar_one_or_none()
    if status != "active":
        raise ConsentRefused(
            "CONSENT_AGENCY_INACTIVE",
            "agency",
            f"no active agency {agency!r}",
            agency=agency,
            purpose=purpose,
        )
    known = (
        await session.execute(
            select(func.count()).where(Purpose.code == purpose, is_current(Purpose))
        )
    ).scalar_one()
    if not known:
        raise ConsentRefused(
            "CONSENT_UNKNOWN_PURPOSE",
            "purpose",
            f"no purpose {purpose!r} in the catalogue",
            agency=agency,
            purpose=purpose,
        )
