"""What the citizens' pages (/me) show and how each view is decided and logged.

- Who looked at my data: the access log's citizen view (`subject_history`, the query behind the
  GraphQL field `myAccessLog`), each entry with its agency's and purpose's names and its fields
  under their labels (`FieldLabels`).
- What a citizen may consent to (`consent_offers`): the rule's scopes
  (gateway/policy/consents.py) with the agencies' and purposes' names, and its refusals in the
  page's words (`check_consent`).
- Every view of a citizen's own data is decided and logged as the GraphQL citizen fields are
  (`SelfRead`: the same guard, the same `AccessLog` decision, the same `self` entry).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.problems import forbidden, unavailable
from gateway.audit.models import AccessLogEntry
from gateway.audit.writer import AuditUnavailable
from gateway.errors import GatewayError
from gateway.graph.context import GatewayContext, Services
from gateway.graph.forms import FormCatalogue
from gateway.graph.schema import ACCESS_LOG_FIELDS
from gateway.identity.principal import Principal
from gateway.policy.consents import MAX_CONSENT_FIELDS, consent_scopes, consent_within
from gateway.policy.consents import ConsentRefused as Refused
from gateway.policy.service import agency_and_purpose_names
from gateway.subjects import SUBJECT_KINDS
from registries.history import VIETNAM_TIME

# A form's field that shows a whole GraphQL field as text (an address by its full text, a code
# list entry by its name) labels that field as well as its own path
WHOLE_LEAVES = ("fullAddress", "name")
AUDIT_TYPES = {kind.audit_name: kind.name for kind in SUBJECT_KINDS.values()}
# Stewards' reads of a citizen's data are logged with this purpose (gateway/admin/context.py)
OVERSIGHT = "oversight"


# -- labels ------------------------------------------------------------------------------------


class FieldLabels:
    """A field's label as a citizen reads it: in Vietnamese the label a prefill form
    (graphql/forms/*.yaml) gives it, else the schema's description; in English the schema's
    description. Without either, the field's own name."""

    def __init__(self, forms: FormCatalogue, schema: GraphQLSchema) -> None:
        self._forms: dict[tuple[str, str], str] = {}
        for code in forms.codes():  # in code order: the first form naming a field labels it
            form = forms.get(code)
            if form is None:
                continue
            exact = {f.path: f.label for f in form.fields}
            whole = {
                f.path.rsplit(".", 1)[0]: f.label
                for f in form.fields
                if f.path.count(".") == 1 and f.path.rsplit(".", 1)[1] in WHOLE_LEAVES
            }
            for name, label in {**whole, **exact}.items():
                self._forms.setdefault((form.subject_type, name), label)
        self._schema = schema

    def label(self, type_name: str, field: str, language: str) -> str:
        if language == "vi" and (type_name, field) in self._forms:
            return self._forms[type_name, field]
        found = self._schema.type_map.get(type_name)
        if isinstance(found, GraphQLObjectType) and field in found.fields:
            described = (found.fields[field].description or "").strip()
            if described:
                return described.rstrip(".")
        return field

    def labels(self, type_name: str, fields: Iterable[str], language: str) -> list[str]:
        return [self.label(type_name, field, language) for field in fields]


async def names(
    *, session: AsyncSession, agencies: Iterable[str], purposes: Iterable[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The registered names of these agencies and the titles of these purposes, as they stand
    (the policy's service: gateway/policy/service.py)."""
    return await agency_and_purpose_names(session=session, agencies=agencies, purposes=purposes)


# -- who looked at my data ---------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    """One access-log entry as the citizen is shown it (the page and the CSV alike)."""

    occurred_at: datetime
    when: str  # Vietnam time, to the second
    agency: str
    agency_name: str
    purpose: str
    purpose_title: str
    outcome: str  # disclosed, refused, oversight, dossier (gateway/audit/service.py)
    officer: str  # the officer's name and unit when verified, else the id the log holds
    officer_verified: bool
    dossier: str
    given: list[str]  # labels
    masked: list[str]
    denied: list[str]
    legal_basis: str
    request_id: str


def _officer(entry: AccessLogEntry) -> tuple[str, bool]:
    asserted = (entry.decision or {}).get("officer") or {}
    name, unit = asserted.get("name"), asserted.get("unit")
    shown = ", ".join(str(part) for part in (name, unit) if part) or entry.officer or ""
    # unverified: no officer, or dev's free-text X-Officer ("header"), as `myAccessLog` says
    return shown, asserted.get("verified") not in (None, "header")


def log_rows(
    entries: Sequence[AccessLogEntry],
    *,
    agency_names: Mapping[str, str],
    purpose_titles: Mapping[str, str],
    labels: FieldLabels,
    language: str,
) -> list[LogRow]:
    rows = []
    for entry in entries:
        decision: Mapping[str, Any] = entry.decision or {}
        type_name = AUDIT_TYPES.get(entry.subject_type, entry.subject_type)
        officer, verified = _officer(entry)
        purpose = entry.purpose or ""
        rows.append(
            LogRow(
                occurred_at=entry.occurred_at,
                when=entry.occurred_at.astimezone(VIETNAM_TIME).strftime("%Y-%m-%d %H:%M:%S"),
                agency=entry.agency,
                agency_name=agency_names.get(entry.agency, ""),
                purpose=purpose,
                purpose_title=purpose_titles.get(purpose, ""),
                outcome=str(decision.get("outcome", "disclosed")),
                officer=officer,
                officer_verified=verified,
                dossier=str(decision.get("dossier") or ""),
                given=labels.labels(type_name, entry.fields_given, language),
                masked=labels.labels(type_name, entry.fields_masked, language),
                denied=labels.labels(type_name, entry.fields_denied, language),
                legal_basis=entry.legal_basis or "",
                request_id=entry.request_id,
            )
        )
    return rows


# -- what a citizen may consent to ---------------------------------------------------------------


@dataclass(frozen=True)
class ConsentOffer:
    """An agency and a purpose that some agreement lets see resident fields with consent."""

    agency: str
    agency_name: str
    purpose: str
    purpose_title: str
    fields: tuple[str, ...]  # what those agreements list, in their order
    legal_basis: str

    @property
    def key(self) -> str:
        return f"{self.agency}/{self.purpose}"


async def consent_offers(*, session: AsyncSession) -> list[ConsentOffer]:
    """What a citizen may consent to (`consent_scopes`, gateway/policy/consents.py), each with
    the agency's registered name and the purpose's title."""
    scopes = await consent_scopes(session=session)
    agency_names, purpose_titles = await names(
        session=session, agencies={s.agency for s in scopes}, purposes={s.purpose for s in scopes}
    )
    return [
        ConsentOffer(
            agency=scope.agency,
            agency_name=agency_names.get(scope.agency, ""),
            purpose=scope.purpose,
            purpose_title=purpose_titles.get(scope.purpose, ""),
            fields=scope.fields,
            legal_basis=scope.legal_basis,
        )
        for scope in scopes
    ]


class ConsentRefused(ValueError):  # noqa: N818 - an outcome, shown on the page
    """A consent the rule refuses, as the page says it: the input and the message's key."""

    def __init__(self, argument: str, message_key: str, **values: Any) -> None:
        super().__init__(message_key)
        self.argument = argument
        self.message_key = message_key
        self.values = values


def page_refusal(refused: Refused) -> ConsentRefused:
    """The consent rule's refusal (gateway/policy/consents.py) in the page's words, at the
    page's input: the fields ticked, the end date, or the offer (agency and purpose) itself."""
    if refused.code == "CONSENT_NO_FIELDS":
        return ConsentRefused("fields", "me.consent.no_fields")
    if refused.code == "CONSENT_TOO_MANY_FIELDS":
        return ConsentRefused("fields", "me.consent.too_many", most=MAX_CONSENT_FIELDS)
    if refused.argument == "fields":  # outside the agreement
        return ConsentRefused("fields", "me.consent.outside", fields=", ".join(refused.fields))
    if refused.argument == "expires_at":
        return ConsentRefused("expires", "me.consent.past_expiry")
    # no agreement, the agency suspended, the purpose withdrawn (or, never from this page, a
    # subject that is not a personal ID): the offer itself is refused
    return ConsentRefused(
        "agency", "me.consent.no_offer", agency=refused.agency, purpose=refused.purpose
    )


def check_consent(
    offers: Sequence[ConsentOffer], *, agency: str, purpose: str, fields: Sequence[str]
) -> ConsentOffer:
    """The offer a consent falls within (`consent_within`, gateway/policy/consents.py: the rule
    `grant_consent` applies again when it records it); ConsentRefused naming the input in the
    page's words otherwise. The end date is the page's own input (a day, checked in me.py)."""
    try:
        return consent_within(offers, agency=agency, purpose=purpose, fields=fields)
    except Refused as refused:
        raise page_refusal(refused) from refused


# -- each view decided and logged ---------------------------------------------------------------


class SelfRead:
    """One view of a citizen's own data, as a GraphQL request of the citizen's is: a guard of
    their own (gateway/graph/guard.py) decides whether they may read their access log (the
    policy's `citizen_self`, as `myAccessLog` asks), records what the view read
    (`Guard.record_read`: a `self` entry with the filter and how much it returned), and the
    entries are durable in the access log before the page leaves (503 if they cannot be)."""

    def __init__(self, services: Services, principal: Principal, operation: str) -> None:
        self._services = services
        self._context = GatewayContext(services)
        self._context.admit(principal, None)
        self._operation = operation
        self.citizen_id = str(principal.citizen_id)

    async def may_read_access_log(self) -> None:
        """The `AccessLog` decision `myAccessLog` asks for: refused unless it is the citizen's
        own (a Problem 403 for the page)."""
        try:
            grant = await self._context.guard.decide(
                "AccessLog", self.citizen_id, ACCESS_LOG_FIELDS
            )
            grant.check_subject("myAccessLog", tuple)
        except GatewayError as refused:
            raise forbidden(str(refused), "not the citizen's own access log") from refused

    def record(self, *, read: str, filters: dict[str, Any], returned: int) -> None:
        self._context.guard.record_read(
            subject_type=SUBJECT_KINDS["Resident"].audit_name,
            subject_id=self.citizen_id,
            read=read,
            filters={k: v for k, v in filters.items() if v is not None},
            returned=returned,
        )

    async def seal(self) -> None:
        """Writes what was recorded, durably; then the view may leave."""
        entries = self._context.guard.disclosures(
            request_id=uuid.uuid4().hex, officer=None, operation=self._operation
        )
        try:
            if entries:
                await self._services.audit.record(entries)
        except AuditUnavailable as error:
            raise unavailable("the access log") from error

    async def __aenter__(self) -> SelfRead:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._context.database.close()  # the guard's session, whatever happened
