"""The GraphQL schema of docs/contract.md: root fields, argument checks, prefill, citizen fields.

`python -m gateway.graph.schema` prints the SDL committed as `graphql/schema.graphql`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from gateway.audit.service import subject_history
from gateway.corrections import service as corrections
from gateway.corrections.models import CorrectionEvent, CorrectionRequest
from gateway.cursors import CursorError
from gateway.dossiers.models import Dossier as DossierRecord
from gateway.dossiers.service import BINDING, DossierError, close_dossier, open_dossier
from gateway.dossiers.service import DossierSubject as DossierSubjectIn
from gateway.errors import ErrorCode, GatewayError, bad_user_input, forbidden
from gateway.events.feed import DEFAULT_FIRST, read_feed
from gateway.graph.forms import Form, disputed_at, error_for, value_at
from gateway.graph.guard import Grant, subject_refused
from gateway.graph.reference import ReferenceCache
from gateway.graph.types import (
    AccessLogConnection,
    AccessLogEntry,
    AdminUnit,
    Change,
    ChangeConnection,
    ChangeSubject,
    Consent,
    Correction,
    CorrectionStep,
    Dossier,
    DossierSubject,
    DossierSubjectInput,
    Enterprise,
    FormerUnit,
    Household,
    PageInfo,
    Parcel,
    Prefill,
    PrefillField,
    Provenance,
    RecordVersion,
    Resident,
    asked,
    asked_on,
    context_of,
    decide_subjects,
    governed,
    reach,
    reach_many,
    visible,
)
from gateway.policy.consents import ConsentRefused
from gateway.policy.service import (
    ConsentNotFound,
    consent_records,
    grant_consent,
    revoke_consent,
)
from gateway.subjects import SUBJECT_KINDS
from registries.identifiers import (
    IdentifierError,
    validate_document_number,
    validate_personal_id,
)
from registries.parcels.service import GeometryError, check_lon_lat, parcels_at
from registries.reference.seed import REORGANISED_ON
from registries.residents.service import first_recorded, holders_of_document
from registries.routing import server_failed

if TYPE_CHECKING:
    from gateway.graph.context import GatewayContext
    from gateway.identity.officers import Officer
    from gateway.policy.models import Consent as ConsentRecord

MAX_BATCH = 100
PREFILL_FATAL = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.BAD_USER_INPUT})
ACCESS_LOG_FIELDS = ("occurredAt", "agency", "purpose", "fieldsGiven")
# grantConsent's arguments by the names the consent rule gives them (gateway/policy/consents.py)
CONSENT_ARGUMENTS = {"expires_at": "expiresAt"}
# One alias rule class for the process: MaxAliasesLimiter makes a new class per instance, and the
# validation rules are part of ValidationCache's key, so every request would be validated anew.
MAX_ALIASES_RULE = create_validator(MAX_BATCH)


def _checked(kind: str, value: str, argument: str) -> str:
    """A subject kind's key as the registry rule accepts it, or BAD_USER_INPUT naming the
    argument."""
    try:
        return SUBJECT_KINDS[kind].validate(value)
    except IdentifierError as error:
        raise bad_user_input(argument, f"{argument}: {error} ({error.code})") from error


def _batch(values: Sequence[str], argument: str) -> None:
    if len(values) > MAX_BATCH:
        raise bad_user_input(
            argument, f"{argument}: at most {MAX_BATCH} keys per request, got {len(values)}"
        )


def _citizen(info: Info) -> str:
    principal = context_of(info).caller
    if not principal.is_citizen or principal.citizen_id is None:
        raise forbidden("citizen", "only a citizen's own token may use this field")
    return principal.citizen_id


def _agency_officer(info: Info) -> Officer:
    """The officer acting for an agency's software: who opens and closes its dossiers."""
    context = context_of(info)
    principal = context.caller
    if not principal.is_agency or principal.is_citizen:
        raise forbidden("dossier", "only an agency's software registers dossiers")
    if context.officer is None:
        raise GatewayError(
            ErrorCode.OFFICER_REQUIRED,
            "a dossier is opened by an officer: send X-Officer-Assertion (or a token naming the "
            "officer)",
        )
    return context.officer


def _reporter(info: Info, subject: str | None) -> tuple[str, corrections.Reporter]:
    """Whose record a correction is about, and who reports it: a citizen, about their own
    record; or an agency's verified officer serving a dossier that names the resident — the
    dossier, opened from the citizen's papers at the counter, is what shows the citizen is
    present (docs/corrections.md)."""
    context = context_of(info)
    principal = context.caller
    if principal.is_citizen and principal.citizen_id is not None:
        own = principal.citizen_id
        if subject is not None and _checked("Resident", subject, "subject") != own:
            raise forbidden(
                "reportCorrection", "a citizen reports corrections of their own record only"
            )
        return own, corrections.Reporter("citizen", f"citizen-{own}", {"citizen_id": own})
    if not principal.is_agency:
        raise forbidden(
            "reportCorrection", "only a citizen, or an officer with the citizen present, reports"
        )
    officer = context.officer
    if officer is None or officer.verified == "header":
        raise GatewayError(
            ErrorCode.OFFICER_REQUIRED,
            "a correction at a counter is reported by a verified officer: send "
            "X-Officer-Assertion (or a token naming the officer)",
        )
    dossier = context.guard.dossier
    if context.dossier is None or dossier is None:
        raise GatewayError(
            ErrorCode.DOSSIER_REQUIRED,
            "a correction at a counter is reported for the dossier naming the citizen: send "
            "X-Purpose and X-Dossier",
        )
    if subject is None:
        raise bad_user_input("subject", "subject: the personal ID of the citizen present")
    personal_id = _checked("Resident", subject, "subject")
    if personal_id not in dossier.get("Resident", ()):
        raise forbidden(
            "reportCorrection", "the dossier does not name this resident: they are not present"
        )
    return personal_id, corrections.Reporter(
        "officer",
        f"officer:{principal.agency}/{officer.id}",
        {"agency": principal.agency, "officer": officer.as_log(), "dossier": context.dossier},
    )


def _correction(record: CorrectionRequest, steps: list[CorrectionEvent]) -> Correction:
    return Correction(
        id=strawberry.ID(str(record.request_id)),
        subject=strawberry.ID(record.subject_id),
        field=record.field,
        explanation=record.explanation,
        reported_by=record.reported_by,
        status=record.status,
        source_agency=record.source_agency,
        rejection_reason=record.rejection_reason,
        reported_at=record.created_at,
        updated_at=record.updated_at,
        history=[CorrectionStep(step=e.step, at=e.at) for e in steps],
    )


def _dossier(record: DossierRecord) -> Dossier:
    return Dossier(
        number=record.number,
        purpose=record.purpose,
        procedure=record.procedure,
        subjects=[
            DossierSubject(type=s["type"], id=strawberry.ID(s["id"]), role=s["role"])
            for s in record.subjects
        ],
        opened_by=str(record.officer.get("id")),
        opened_at=record.opened_at,
        expires_at=record.expires_at,
        closed_at=record.closed_at,
    )


def _consent(record: ConsentRecord) -> Consent:
    return Consent(
        id=strawberry.ID(record.consent_id),
        agency=record.agency,
        purpose=record.purpose,
        fields=list(record.fields),
        granted_at=record.granted_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        channel=record.channel,
    )


@strawberry.type
class Query:
    @strawberry.field(description="A resident by personal ID; `asOf` reads the registry as it was.")
    async def resident(
        self, info: Info, id: strawberry.ID, as_of: date | None = None
    ) -> Resident | None:
        personal_id = _checked("Resident", id, "id")
        return await reach(info, Resident, personal_id, via=None, as_of=as_of)

    @strawberry.field(
        description="The resident whose identity card has this number: a 9-digit CMND or a "
        "12-digit card number (spaces ignored). Governed as `resident(id:)`, logged like it; "
        "the personal ID is a governed field here (the caller sent the card's number). Null "
        "when no resident holds it, for a caller who may see residents without their consent; "
        "refused alike whether one holds it or not for anyone else."
    )
    async def resident_by_document(self, info: Info, number: str) -> Resident | None:
        return await _by_document(info, number)

    @strawberry.field(description="Up to 100 residents; order kept, null where absent or refused.")
    async def residents(self, info: Info, ids: list[strawberry.ID]) -> list[Resident | None]:
        _batch(ids, "ids")
        personal_ids = [_checked("Resident", value, "ids") for value in ids]
        return cast("list[Resident | None]", await reach_many(info, Resident, personal_ids))

    @strawberry.field
    async def household(self, info: Info, id: strawberry.ID) -> Household | None:
        household_id = _checked("Household", id, "id")
        return await reach(info, Household, household_id, via=None, as_of=None)

    @strawberry.field
    async def enterprise(
        self, info: Info, code: strawberry.ID, as_of: date | None = None
    ) -> Enterprise | None:
        enterprise_code = _checked("Enterprise", code, "code")
        return await reach(info, Enterprise, enterprise_code, via=None, as_of=as_of)

    @strawberry.field(
        description="Up to 100 enterprises; order kept, null where absent or refused."
    )
    async def enterprises(self, info: Info, codes: list[strawberry.ID]) -> list[Enterprise | None]:
        _batch(codes, "codes")
        checked = [_checked("Enterprise", code, "codes") for code in codes]
        return cast("list[Enterprise | None]", await reach_many(info, Enterprise, checked))

    @strawberry.field
    async def parcel(self, info: Info, id: strawberry.ID) -> Parcel | None:
        parcel_id = _checked("Parcel", id, "id")
        return await reach(info, Parcel, parcel_id, via=None, as_of=None)

    @strawberry.field(description="Parcels containing (or bordering on) a WGS 84 point.")
    async def parcels_at(self, info: Info, lon: float, lat: float) -> list[Parcel]:
        context = context_of(info)
        try:
            check_lon_lat(lon, lat)
        except GeometryError as error:
            raise bad_user_input("lon" if not -180 <= lon <= 180 else "lat", str(error)) from error
        # Decided before the ground is read: a caller who may not see parcels here is refused
        # alike on empty ground and where a parcel lies
        if not await context.guard.may_see_any("Parcel", governed("Parcel"), None):
            raise subject_refused(info.field_name)
        records = await context.database.read(partial(parcels_at, lon=lon, lat=lat))
        return visible(await decide_subjects(info, Parcel, records, via=None, as_of=None), info)

    @strawberry.field(description="A province (2-digit code) or a commune (5-digit code); public.")
    def admin_unit(self, info: Info, code: str) -> AdminUnit | None:
        if not code.isdigit() or len(code) > 5:
            raise bad_user_input("code", "code: an administrative unit code has at most 5 digits")
        reference = context_of(info).services.reference
        number = int(code)
        if len(code) <= 2:
            province = reference.provinces.get(number)
            return _province(province, reference) if province else None
        found = reference.communes.get(number)
        if found is None:
            return None
        commune, province = found
        return AdminUnit(
            code=f"{commune.code:05d}",
            name=commune.name,
            level="commune",
            division_type=commune.division_type,
            province=_province(province, reference),
            former_units=_former_units_of_commune(commune.code, reference),
        )

    @strawberry.field(description="A procedure's form prefilled for a subject, with provenance.")
    async def prefill(self, info: Info, form: str, subject: strawberry.ID) -> Prefill | None:
        return await _prefill(info, form, subject)

    @strawberry.field(description="Who accessed my data (citizen tokens only), newest first.")
    async def my_access_log(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> AccessLogConnection:
        citizen_id = _citizen(info)
        context = context_of(info)
        grant = await context.guard.decide("AccessLog", citizen_id, ACCESS_LOG_FIELDS)
        grant.check_subject("myAccessLog", tuple)
        if first is not None and not 1 <= first <= MAX_BATCH:
            raise bad_user_input("first", f"first: between 1 and {MAX_BATCH}")
        try:
            async with context.database.session() as session:
                page = await subject_history(
                    session=session,
                    subject_type="resident",
                    subject_id=citizen_id,
                    first=first or 20,
                    after=after,
                    known_since=await first_recorded(session=session, personal_id=citizen_id),
                )
        except CursorError as error:
            raise bad_user_input("after", "after: not a cursor this API handed out") from error
        context.guard.record_read(
            subject_type="resident",
            subject_id=citizen_id,
            read="myAccessLog",
            filters={"first": first, "after": after is not None},
            returned=len(page.entries),
        )
        return AccessLogConnection(
            nodes=[
                AccessLogEntry(
                    occurred_at=e.occurred_at,
                    agency=e.agency,
                    officer=e.officer,
                    purpose=e.purpose,
                    legal_basis=e.legal_basis,
                    subject_type=e.subject_type,
                    fields_given=list(e.fields_given),
                    fields_masked=list(e.fields_masked),
                    fields_denied=list(e.fields_denied),
                    request_id=e.request_id,
                    dossier=(e.decision or {}).get("dossier"),
                    officer_name=((e.decision or {}).get("officer") or {}).get("name"),
                    officer_unit=((e.decision or {}).get("officer") or {}).get("unit"),
                    # unverified: no officer, or dev's free-text X-Officer ("header")
                    officer_verified=((e.decision or {}).get("officer") or {}).get("verified")
                    not in (None, "header"),
                    outcome=(e.decision or {}).get("outcome", "disclosed"),
                )
                for e in page.entries
            ],
            page_info=PageInfo(end_cursor=page.end_cursor, has_next_page=page.has_next_page),
        )

    @strawberry.field(
        description="Change events of your agency's approved subscriptions for the declared "
        "purpose (X-Purpose), in the order of the transactions that wrote them (one committing "
        "late holds back later ones), each with what your agreement gives of the subject's new "
        "version (docs/events.md). Resume with `after: pageInfo.endCursor`; a page may hold "
        "fewer than `first` (1 to 500) events: those you may not receive are skipped."
    )
    async def changes(
        self, info: Info, after: str | None = None, first: int | None = DEFAULT_FIRST
    ) -> ChangeConnection:
        page = await read_feed(context_of(info), after=after, first=first)
        return ChangeConnection(
            nodes=[_change(decided.message) for decided in page.changes],
            page_info=PageInfo(end_cursor=page.end_cursor, has_next_page=page.has_next_page),
        )

    @strawberry.field(description="My consents, current and revoked (citizen tokens only).")
    async def my_consents(self, info: Info) -> list[Consent]:
        citizen_id = _citizen(info)
        async with context_of(info).database.session() as session:
            records = await consent_records(session=session, subject_id=citizen_id)
        context_of(info).guard.record_read(
            subject_type="resident",
            subject_id=citizen_id,
            read="myConsents",
            filters={},
            returned=len(records),
        )
        return [_consent(record) for record in records]

    @strawberry.field(
        description="My correction requests, newest first, with their steps and, when the "
        "stewards rejected one, why (citizen tokens only)."
    )
    async def my_corrections(self, info: Info) -> list[Correction]:
        citizen_id = _citizen(info)
        async with context_of(info).database.session() as session:
            records = await corrections.requests_of(
                session=session, subject_type="Resident", subject_id=citizen_id
            )
            steps = await corrections.history(
                session=session, request_ids=[r.request_id for r in records]
            )
        context_of(info).guard.record_read(
            subject_type="resident",
            subject_id=citizen_id,
            read="myCorrections",
            filters={},
            returned=len(records),
        )
        return [_correction(r, steps.get(r.request_id, [])) for r in records]


def _change(message: Mapping[str, Any]) -> Change:
    """A payload (gateway/events/payloads.py) as the feed's GraphQL type gives it."""
    return Change(
        id=strawberry.ID(message["id"]),
        type=message["type"],
        subject=ChangeSubject(
            type=message["subject"]["type"], id=strawberry.ID(message["subject"]["id"])
        ),
        sequence=message["sequence"],
        effective_at=datetime.fromisoformat(message["effectiveAt"]),
        recorded_at=datetime.fromisoformat(message["recordedAt"]),
        data=message["data"],
    )


def _province(province: Any, reference: ReferenceCache) -> AdminUnit:
    return AdminUnit(
        code=f"{province.code:02d}",
        name=province.name,
        level="province",
        division_type=province.division_type,
        former_units=[
            FormerUnit(
                code=f"{former.code:02d}",
                name=former.name,
                level="province",
                division_type=former.division_type,
                district_name=None,
                province_name=former.name,
                whole=whole,
                note=None,
                effective_on=REORGANISED_ON,
            )
            for former, whole in reference.former_provinces.get(province.code, [])
        ],
    )


_CODE_WIDTH = {"province": 2, "district": 3, "commune": 5}


def _former_units_of_commune(code: int, reference: ReferenceCache) -> list[FormerUnit]:
    """The communes (or island districts) before 2025 that went into a 2025 commune."""
    units = []
    for change in reference.changes_into.get(code, []):
        former = reference.former_units[(change.former_level, change.former_code)]
        district = reference.former_units.get(("district", former.district_code or 0))
        province = reference.former_units[("province", former.province_code)]
        units.append(
            FormerUnit(
                code=f"{former.code:0{_CODE_WIDTH[former.level]}d}",
                name=former.name,
                level=former.level,
                division_type=former.division_type,
                district_name=district.name if district else None,
                province_name=province.name,
                whole=reference.parts_of.get((former.level, former.code)) == 1,
                note=change.note,
                effective_on=change.effective_on,
            )
        )
    return units


async def _by_document(info: Info, number: str) -> Resident | None:
    """A lookup by an old document's number: the number's holder is found by its index (keys
    only), then decided by personal ID before its row is read, as `resident(id:)` is; every
    holder found is logged as looked up. No holder: the lookup is of the number itself, logged
    under it, an attempt (`absent`) for a caller who may see residents without their consent,
    refused for anyone else, exactly as a personal ID no resident has."""
    try:
        document = validate_document_number(number)
    except IdentifierError as error:
        raise bad_user_input("number", f"number: {error} ({error.code})") from error
    context = context_of(info)
    holders = await context.database.read(partial(holders_of_document, number=document.number))
    keys = holders or [document.number]
    guard = context.guard
    for key in keys:
        guard.looked_up("Resident", key)
    grants = await guard.grants(
        "Resident", keys, asked(info, "Resident"), governed("Resident"), None
    )
    refusal = None
    for grant in grants:
        try:
            grant.check_subject(info.field_name, asked_on(info, "Resident"))
        except GatewayError as error:
            refusal = refusal or error
    if refusal is not None:
        raise refusal
    if not holders:
        guard.absent("Resident", document.number)
        return None
    if len(holders) > 1:  # an export gave two residents one card: the registry cannot choose
        raise bad_user_input(
            "number", "number: several residents hold this card number; ask by personal ID"
        )
    record = await context.loaders.residents.load((holders[0], None))
    return None if record is None else Resident(record=record, grant=grants[0], as_of=None)


# A resident's death, which a prefill shows instead of the form (docs/disclosure.md, "Deaths").
DEATH_FIELDS = frozenset({"deceased", "deceasedOn"})


async def death_grant(context: GatewayContext, personal_id: str, *, now: bool) -> Grant | None:
    """The subject's grant over its death fields when the caller may be given one of them, else
    None. Both executors ask it the same way before filling a form; it is decided only when an
    agreement of the request's scope names a death field (or the scope is not cached, or the
    caller is a citizen, whose own record needs none), so most prefills pay no decision for it."""
    guard = context.guard
    if guard.policy_version is not None and guard.purpose is not None:
        scoped = context.services.agreements.cached_for(
            agency=guard.principal.agency,
            purpose=guard.purpose,
            subject_type="Resident",
            version=guard.policy_version,
        )
        if (
            scoped is not None
            and not guard.principal.is_citizen
            and not any(DEATH_FIELDS & set(a.get("fields", ())) for a in scoped)
        ):
            return None
    decide = guard.decide_many_now if now else guard.decide_many
    (grant,) = await decide("Resident", [personal_id], DEATH_FIELDS, None)
    outcomes = grant.decision.fields
    return grant if any(outcomes.get(name) in ("allow", "mask") for name in DEATH_FIELDS) else None


def deceased_prefill(form: Form, subject: str, grant: Grant, record: Any) -> Prefill | None:
    """A dead person's form is not prefilled: every field says "deceased on …" instead, with
    the death as the grant gives it (each death field recorded given or masked in the log, and
    nothing else of the subject). None when the record shows no death the grant may give."""
    died = record.deceased_on.isoformat() if record.deceased_on is not None else None
    values = {"deceased": record.deceased, "deceasedOn": died}
    outcomes = grant.decision.fields
    given: dict[str, Any] = {}
    for name in sorted(DEATH_FIELDS):
        if outcomes.get(name) in ("allow", "mask") and values[name]:
            try:
                given[name] = grant.give(name, outcomes[name], values[name])
            except GatewayError:  # a mask this gateway does not know: denied, recorded so
                continue
    if not given:
        return None
    on = given.get("deceasedOn")
    missing = f"deceased on {on}" if on else "deceased"
    return Prefill(
        form=form.code,
        title=form.title,
        procedure=form.procedure,
        subject=strawberry.ID(subject),
        fields=[
            PrefillField(
                key=f.key, label=f.label, path=f.path, value=None, missing=missing,
                provenance=None,
            )
            for f in form.fields
        ],
    )  # fmt: skip


async def death_prefill(context: GatewayContext, form: Form, subject: str) -> Prefill | None:
    """The death a prefill shows: the prefill of a dead resident, when the caller may be told
    of the death; None: fill the form (a living subject, or one the form's query answers:
    malformed, absent, refused). `prefill` and the console's preview both start here."""
    if form.subject_type != "Resident":
        return None
    try:
        personal_id = validate_personal_id(subject)
    except IdentifierError:
        return None
    grant = await death_grant(context, personal_id, now=False)
    if grant is None:
        return None
    record = await context.loaders.residents.load((personal_id, None))
    if record is None:
        return None
    prefill = deceased_prefill(form, subject, grant, record)
    if prefill is not None:
        context.guard.looked_up("Resident", personal_id)
    return prefill


async def _prefill(info: Info, code: str, subject: str) -> Prefill | None:
    context = context_of(info)
    form = await prefill_form(context, code)
    dead = await death_prefill(context, form, subject)
    if dead is not None:
        return dead
    result = await info.schema.execute(
        form.query, variable_values={"subject": subject}, context_value=context
    )
    return prefilled(form, subject, result.data, list(result.errors or []))


async def prefill_form(context: GatewayContext, code: str) -> Form:
    """The form a prefill names, if it serves the request's declared purpose: as in force at the
    policy version the request decides on (or newer)."""
    forms = (await context.services.catalogues.at_least(context.guard.policy_version)).forms
    form = forms.get(code)
    if form is None:
        known = ", ".join(forms.codes())
        raise bad_user_input("form", f"form: no form {code!r} (known: {known})")
    if context.purpose != form.purpose:
        raise bad_user_input(
            "form",
            f"form: {form.code} serves purpose {form.purpose}; X-Purpose is {context.purpose}",
        )
    return form


def prefilled(
    form: Form, subject: str, result: dict[str, Any] | None, errors: list[GraphQLError]
) -> Prefill | None:
    """The form filled from the answer of its query (`result`, `errors`): each field's value and
    provenance, or why it is missing."""
    for error in errors:
        original = error.original_error
        # a failure or a bad subject is the prefill's own error, not a missing field
        if isinstance(original, GatewayError) and original.code in PREFILL_FATAL:
            raise original
        if error.path == ["subject"]:
            raise error
    data = (result or {}).get("subject")
    if data is None:
        return None
    fields = []
    for form_field in form.fields:
        value, source = value_at(data, form_field.steps)
        missing = None
        if value is None:
            refusal = error_for(errors, form_field.steps)
            missing = refusal.message if refusal else "not recorded in the registry"
        fields.append(
            PrefillField(
                key=form_field.key,
                label=form_field.label,
                path=form_field.path,
                value=None if value is None else str(value),
                missing=missing,
                provenance=_provenance(source) if value is not None and source else None,
                disputed=value is not None and disputed_at(data, form_field.steps),
            )
        )
    return Prefill(
        form=form.code,
        title=form.title,
        procedure=form.procedure,
        subject=strawberry.ID(subject),
        fields=fields,
    )


def _provenance(subject: dict[str, Any]) -> Provenance | None:
    version = subject["recordVersion"]
    if version is None:  # the agreement does not give the record's version
        return None
    return Provenance(
        registry=SUBJECT_KINDS[subject["__typename"]].registry,
        record_version=RecordVersion(
            valid_from=datetime.fromisoformat(version["validFrom"]),
            valid_to=datetime.fromisoformat(version["validTo"]) if version["validTo"] else None,
            recorded_at=datetime.fromisoformat(version["recordedAt"]),
        ),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Let an agency see some of my fields for a purpose, until a date. Only "
        "within an approved agreement in force, of an active agency, that gives those fields "
        "for that purpose with the resident's consent: anything else (no such agreement, a "
        "field it does not list, no field or more than 100, an end without a time zone or not "
        "in the future) is BAD_USER_INPUT naming the argument, the message ending with the "
        "rule's code (e.g. CONSENT_NO_AGREEMENT), and nothing is recorded."
    )
    async def grant_consent(
        self,
        info: Info,
        agency: strawberry.ID,
        purpose: str,
        fields: list[str],
        expires_at: datetime,
    ) -> Consent:
        citizen_id = _citizen(info)
        try:
            async with context_of(info).services.sessions.begin() as session:
                record = await grant_consent(
                    session=session,
                    subject_id=citizen_id,
                    agency=agency,
                    purpose=purpose,
                    fields=fields,
                    expires_at=expires_at,
                )
        except ConsentRefused as refused:
            if refused.argument == "subject_id":  # the token's, not an argument
                raise forbidden("citizen", f"{refused} ({refused.code})") from refused
            argument = CONSENT_ARGUMENTS.get(refused.argument, refused.argument)
            raise bad_user_input(argument, f"{argument}: {refused} ({refused.code})") from refused
        return _consent(record)

    @strawberry.mutation(
        description="Register a one-stop dossier (agency software, an officer acting): requests "
        "of a case-bound purpose then name it in X-Dossier and reach only its subjects. Opening "
        "the same dossier again with the same content returns it unchanged."
    )
    async def open_dossier(  # noqa: PLR0917 - the mutation's arguments
        self,
        info: Info,
        number: str,
        purpose: str,
        subjects: list[DossierSubjectInput],
        expires_at: datetime,
        procedure: str | None = None,
    ) -> Dossier:
        officer = _agency_officer(info)
        context = context_of(info)
        settings = context.services.settings
        if len(subjects) > settings.dossier_max_subjects:
            raise bad_user_input(
                "subjects", f"subjects: at most {settings.dossier_max_subjects} per dossier"
            )
        try:
            async with context.services.sessions.begin() as session:
                record = await open_dossier(
                    session=session,
                    number=number,
                    agency=context.caller.agency,
                    purpose=purpose,
                    procedure=procedure,
                    subjects=[DossierSubjectIn(s.type, str(s.id), s.role) for s in subjects],
                    officer=officer.as_log(),
                    expires_at=expires_at,
                    request_id=context.request_id,
                    max_subjects=settings.dossier_max_subjects,
                    max_days=settings.dossier_max_days,
                )
        except DossierError as error:
            raise bad_user_input(error.argument, str(error)) from error
        context.services.dossiers.keep(
            {name: getattr(record, name) for name in BINDING.selected_columns.keys()}  # noqa: SIM118
        )
        context.guard.record_dossier(
            number=record.number,
            purpose=record.purpose,
            subjects=[(s["type"], s["id"], s["role"]) for s in record.subjects],
            expires_at=record.expires_at,
        )
        return _dossier(record)

    @strawberry.mutation(description="Close one of my agency's dossiers: it serves nothing more.")
    async def close_dossier(self, info: Info, number: str) -> Dossier:
        officer = _agency_officer(info)
        context = context_of(info)
        try:
            async with context.services.sessions.begin() as session:
                record = await close_dossier(
                    session=session, number=number, agency=context.caller.agency, actor=officer.id
                )
        except DossierError as error:
            raise bad_user_input(error.argument, str(error)) from error
        context.services.dossiers.forget(record.number)
        return _dossier(record)

    @strawberry.mutation(
        description="Report a field of a resident's record as wrong, saying why: the field is "
        "disputed at once (answers and prefills flag it beside its value) until the registry's "
        "source corrects it or its stewards reject the request with a reason "
        "(docs/corrections.md). A citizen reports about their own record (`subject` omitted or "
        "their own ID); an agency's verified officer, with X-Purpose and X-Dossier naming a "
        "dossier of that resident, reports with the citizen present. Refusals are "
        "BAD_USER_INPUT naming the argument, the message ending with the rule's code (e.g. "
        "CORRECTION_FIELD_UNKNOWN, CORRECTION_FIELD_NOT_HELD, CORRECTION_EXPLANATION_EMPTY, "
        "CORRECTION_ALREADY_OPEN), and nothing is recorded."
    )
    async def report_correction(
        self,
        info: Info,
        field: str,
        explanation: str,
        subject: strawberry.ID | None = None,
    ) -> Correction:
        subject_id, reporter = _reporter(info, subject)
        try:
            async with context_of(info).services.sessions.begin() as session:
                record = await corrections.report(
                    session=session,
                    subject_type="Resident",
                    subject_id=subject_id,
                    field=field,
                    explanation=explanation,
                    known=governed("Resident"),
                    reporter=reporter,
                )
                steps = await corrections.history(session=session, request_ids=[record.request_id])
        except corrections.CorrectionRefused as refused:
            raise bad_user_input(refused.argument, f"{refused} ({refused.code})") from refused
        return _correction(record, steps.get(record.request_id, []))

    @strawberry.mutation(description="Withdraw a consent: the very next request is refused.")
    async def revoke_consent(self, info: Info, id: strawberry.ID) -> Consent:
        citizen_id = _citizen(info)
        try:
            async with context_of(info).services.sessions.begin() as session:
                record = await revoke_consent(session=session, consent_id=id, subject_id=citizen_id)
                return _consent(record)
        except ConsentNotFound as error:
            raise bad_user_input("id", "id: no consent of yours has this id") from error


def _unexpected(error: GraphQLError) -> bool:
    """An exception no resolver meant to show (a bug, a lost connection): masked and logged.
    Contract errors and validation errors reach the client as they are."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def _masked(error: GraphQLError) -> bool:
    """Unexpected errors are masked, except a failed database server's: the router turns the
    whole answer into 503 UNAVAILABLE (data null), so its message never reaches the client."""
    original = error.original_error
    return _unexpected(error) and not (original is not None and server_failed(original))


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # FORBIDDEN and BAD_USER_INPUT are answers, not incidents: only the unexpected are logged
        super().process_errors([e for e in errors if _unexpected(e)], execution_context)


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    extensions: list[Any] = [
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        lambda: AddValidationRules([MAX_ALIASES_RULE]),
        lambda: MaskErrors(should_mask_error=_masked),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )


if __name__ == "__main__":
    print(build_schema().as_str())
