"""`/me`, the citizens' data tracker: who looked at my data (filtered by agency and period, a
page at a time, or all of it as CSV), and my consents (given, withdrawn).

A citizen sees only their own personal ID's data: every query is keyed by the signed-in
session's `citizen_id`, never by anything the browser sends. The access log is read by the query
behind GraphQL's `myAccessLog` and consents by `myConsents`' (gateway/graph/schema.py); each page
that shows them is decided and logged as those fields are (gateway/console/me_data.py,
`SelfRead`). A consent is recorded by the service `grantConsent` uses
(gateway/policy/service.py), once it falls within what an agreement allows with consent; the
rule's refusal (gateway/policy/consents.py) is shown at the page's input, whether the page's own
check or the service's, when it records, finds it (an agency suspended in between).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.agencies import service as agencies
from gateway.admin.types import CLIENT_ID
from gateway.audit.service import MAX_PAGE, Page, subject_history
from gateway.console.context import Console
from gateway.console.me_data import (
    OVERSIGHT,
    ConsentOffer,
    ConsentRefused,
    FieldLabels,
    LogRow,
    SelfRead,
    check_consent,
    consent_offers,
    log_rows,
    names,
    page_refusal,
)
from gateway.console.messages import translator
from gateway.console.sessions import ConsoleSession
from gateway.console.web import (
    CitizenSession,
    ConsoleDep,
    FormDep,
    language,
    redirect,
    render,
)
from gateway.cursors import CursorError
from gateway.graph.schema import MAX_BATCH
from gateway.policy.consents import ConsentRefused as RuleRefused
from gateway.policy.models import Consent
from gateway.policy.service import ConsentNotFound, consent_records, grant_consent, revoke_consent
from registries.history import VIETNAM_TIME
from registries.residents.service import first_recorded

router = APIRouter()
PAGE_SIZE = 25
RESIDENT = "resident"  # the access log's subject type of a person (gateway/subjects.py)
DONE = {"granted": "me.consents.granted", "revoked": "me.consents.withdrawn"}
Text = Annotated[str, Query(max_length=200)]


# -- the filter --------------------------------------------------------------------------------


@dataclass
class LogFilter:
    """The page's filter as typed, and what is wrong with it (by input)."""

    agency: str = ""
    since: str = ""
    until: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    _since: date | None = None
    _until: date | None = None

    @classmethod
    def of(cls, *, agency: str, since: str, until: str, language: str) -> LogFilter:
        t = translator(language)
        found = cls(agency=agency.strip(), since=since.strip(), until=until.strip())
        if found.agency and not re.fullmatch(CLIENT_ID, found.agency):
            found.errors["agency"] = t("me.log.bad_agency", value=found.agency)
        for name in ("since", "until"):
            typed = getattr(found, name)
            if not typed:
                continue
            try:
                setattr(found, f"_{name}", date.fromisoformat(typed))
            except ValueError:
                found.errors[name] = t("me.log.bad_date", value=typed)
        if found._since and found._until and found._since > found._until:
            found.errors["until"] = t("me.log.bad_period")
        return found

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The period as instants: from the start of `since` to the end of `until`, Vietnam
        time (the dates a citizen types are days there)."""
        start = datetime.combine(self._since, time.min, VIETNAM_TIME) if self._since else None
        end = (
            datetime.combine(self._until + timedelta(days=1), time.min, VIETNAM_TIME)
            if self._until
            else None
        )
        return start, end

    def logged(self) -> dict[str, Any]:
        """What the access log keeps of the filter."""
        return {"agency": self.agency or None, "since": self.since or None,
                "until": self.until or None}  # fmt: skip

    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("agency", self.agency), ("since", self.since),
                                  ("until", self.until)) if v}  # fmt: skip


async def _history(
    session: AsyncSession, citizen_id: str, where: LogFilter, *, first: int, after: str | None
) -> Page:
    since, until = where.window()
    return await subject_history(
        session=session,
        subject_type=RESIDENT,
        subject_id=citizen_id,
        first=first,
        after=after,
        known_since=await first_recorded(session=session, personal_id=citizen_id),
        agency=where.agency or None,
        since=since,
        until=until,
    )


def _labels(console: Console) -> FieldLabels:
    services = console.admin.services
    return FieldLabels(services.forms, console.admin.schema)


async def _rows(session: AsyncSession, console: Console, page: Page, language: str) -> list[LogRow]:
    agency_names, purpose_titles = await names(
        session=session,
        agencies={e.agency for e in page.entries},
        purposes={e.purpose for e in page.entries if e.purpose},
    )
    purpose_titles.setdefault(OVERSIGHT, translator(language)("me.purpose.oversight"))
    return log_rows(page.entries, agency_names=agency_names, purpose_titles=purpose_titles,
                    labels=_labels(console), language=language)  # fmt: skip


def _citizen(session: ConsoleSession) -> str:
    return str(session.citizen_id)


# -- who looked at my data ---------------------------------------------------------------------


@router.get("/")
async def access_log(
    *,
    request: Request,
    console: ConsoleDep,
    session: CitizenSession,
    agency: Text = "",
    since: Text = "",
    until: Text = "",
    after: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    lang = language(request)
    where = LogFilter.of(agency=agency, since=since, until=until, language=lang)
    services = console.admin.services
    rows: list[LogRow] = []
    page: Page | None = None
    async with SelfRead(services, session.principal(), "console /me/") as reading:
        await reading.may_read_access_log()
        async with services.sessions() as db:
            choices, _ = await agencies.list_agencies(session=db, status=None, limit=100,
                                                      cursor=None)  # fmt: skip
            if not where.errors:
                try:
                    page = await _history(db, _citizen(session), where, first=PAGE_SIZE,
                                          after=after)  # fmt: skip
                except CursorError:
                    where.errors["after"] = translator(lang)("me.log.bad_cursor")
                else:
                    rows = await _rows(db, console, page, lang)
        if page is not None:
            reading.record(read="myAccessLog",
                           filters={**where.logged(), "after": after is not None},
                           returned=len(rows))  # fmt: skip
            await reading.seal()
    return render(request, "me_log.html", status=422 if where.errors else 200, nav="me_log",
                  citizen_id=session.citizen_id, rows=rows, where=where,
                  agencies=[(a.client_id, a.name) for a in choices],
                  next_cursor=page.end_cursor if page and page.has_next_page else None,
                  paged=after is not None)  # fmt: skip


CSV_COLUMNS = ("me.log.time", "me.log.agency_code", "me.log.agency", "me.log.purpose_code",
               "me.log.purpose", "me.log.outcome", "me.log.officer", "me.log.dossier",
               "me.log.given", "me.log.masked", "me.log.denied", "me.log.legal_basis")  # fmt: skip


def csv_line(row: LogRow, language: str) -> list[str]:
    """A row of the CSV: the page's row, cell by cell (tests/functional/test_console_me.py)."""
    t = translator(language)
    officer = row.officer + (f" ({t('me.log.verified')})" if row.officer_verified else "")
    return [row.when, row.agency, row.agency_name, row.purpose, row.purpose_title,
            t(f"me.outcome.{row.outcome}"), officer, row.dossier, "; ".join(row.given),
            "; ".join(row.masked), "; ".join(row.denied), row.legal_basis]  # fmt: skip


async def _csv(
    console: Console, session: ConsoleSession, where: LogFilter, language: str
) -> AsyncIterator[str]:
    """The whole filtered log, oldest page last as on the page, a page of entries at a time;
    each page is logged (a `self` read of its rows) before its rows leave."""
    t = translator(language)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a byte-order mark: spreadsheet software then reads UTF-8
    writer.writerow([t(key) for key in CSV_COLUMNS])
    services = console.admin.services
    after: str | None = None
    while True:
        async with services.sessions() as db:
            page = await _history(db, _citizen(session), where, first=MAX_PAGE, after=after)
            rows = await _rows(db, console, page, language)
        async with SelfRead(services, session.principal(), "console /me/log.csv") as reading:
            reading.record(read="myAccessLog.csv", filters={**where.logged(),
                           "after": after is not None}, returned=len(rows))  # fmt: skip
            await reading.seal()
        for row in rows:
            writer.writerow(csv_line(row, language))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if not page.has_next_page:
            return
        after = page.end_cursor


@router.get("/log.csv")
async def access_log_csv(
    *,
    request: Request,
    console: ConsoleDep,
    session: CitizenSession,
    agency: Text = "",
    since: Text = "",
    until: Text = "",
) -> Response:
    lang = language(request)
    where = LogFilter.of(agency=agency, since=since, until=until, language=lang)
    if where.errors:
        return await access_log(request=request, console=console, session=session,
                                agency=agency, since=since, until=until)  # fmt: skip
    async with SelfRead(console.admin.services, session.principal(), "console /me/log.csv") as r:
        await r.may_read_access_log()
    name = "nhat-ky-truy-cap.csv" if lang == "vi" else "access-log.csv"
    return StreamingResponse(
        _csv(console, session, where, lang),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


# -- my consents -------------------------------------------------------------------------------


@dataclass
class ConsentForm:
    """A consent being given: the offer it answers, the fields ticked, the end date typed, and
    what is wrong with it (by input)."""

    agency: str = ""
    purpose: str = ""
    fields: list[str] = field(default_factory=list)
    expires: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.agency}/{self.purpose}"


@dataclass(frozen=True)
class ShownConsent:
    record: Consent
    agency_name: str
    purpose_title: str
    fields: list[str]  # labels
    state: str  # in_force, revoked, expired


def _state(consent: Consent, now: datetime) -> str:
    if consent.revoked_at is not None:
        return "revoked"
    return "expired" if consent.expires_at <= now else "in_force"


async def _consents_page(
    request: Request,
    console: Console,
    session: ConsoleSession,
    *,
    typed: ConsentForm | None = None,
    refusal: str = "",
    status: int = 200,
) -> Response:
    lang = language(request)
    services = console.admin.services
    labels = _labels(console)
    async with SelfRead(services, session.principal(), "console /me/consents") as reading:
        async with services.sessions() as db:
            records = await consent_records(session=db, subject_id=_citizen(session))
            offers = await consent_offers(session=db)
            agency_names, purpose_titles = await names(
                session=db, agencies={c.agency for c in records},
                purposes={c.purpose for c in records},
            )  # fmt: skip
        reading.record(read="myConsents", filters={}, returned=len(records))
        await reading.seal()
    now = datetime.now(UTC)
    shown = [
        ShownConsent(record=c, agency_name=agency_names.get(c.agency, ""),
                     purpose_title=purpose_titles.get(c.purpose, ""),
                     fields=labels.labels("Resident", c.fields, lang), state=_state(c, now))
        for c in records
    ]  # fmt: skip
    choices = {o.key: [(f, labels.label("Resident", f, lang)) for f in o.fields] for o in offers}
    done = request.query_params.get("done", "")
    in_a_year = datetime.now(VIETNAM_TIME).date() + timedelta(days=365)
    return render(request, "me_consents.html", status=status, nav="me_consents",
                  consents=shown, offers=offers, choices=choices, typed=typed or ConsentForm(),
                  refusal=refusal, done=DONE.get(done, ""), one_second=timedelta(seconds=1),
                  default_expiry=in_a_year.isoformat())  # fmt: skip


@router.get("/consents")
async def consents(*, request: Request, console: ConsoleDep, session: CitizenSession) -> Response:
    return await _consents_page(request, console, session)


def _typed(form: Any) -> ConsentForm:
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    return ConsentForm(agency=text("agency"), purpose=text("purpose"),
                       fields=[str(v) for v in form.getlist("fields")][: MAX_BATCH + 1],
                       expires=text("expires"))  # fmt: skip


def _expiry(typed: ConsentForm, language: str) -> datetime | None:
    """The end of the day typed, Vietnam time (a consent holds through the day it names)."""
    t = translator(language)
    try:
        day = date.fromisoformat(typed.expires)
    except ValueError:
        typed.errors["expires"] = t("me.consent.bad_expiry", value=typed.expires)
        return None
    if day < datetime.now(VIETNAM_TIME).date():
        typed.errors["expires"] = t("me.consent.past_expiry")
        return None
    return datetime.combine(day + timedelta(days=1), time.min, VIETNAM_TIME)


@router.post("/consents")
async def give_consent(
    *, request: Request, console: ConsoleDep, session: CitizenSession, form: FormDep
) -> Response:
    lang = language(request)
    t = translator(lang)
    typed = _typed(form)
    services = console.admin.services
    async with services.sessions() as db:
        offers: list[ConsentOffer] = await consent_offers(session=db)
    try:
        check_consent(offers, agency=typed.agency, purpose=typed.purpose, fields=typed.fields)
    except ConsentRefused as refused:
        typed.errors[refused.argument] = t(refused.message_key, **refused.values)
    expires_at = _expiry(typed, lang)
    if typed.errors or expires_at is None:
        return await _consents_page(request, console, session, typed=typed, status=422)
    try:
        async with console.admin.transaction() as db:
            await grant_consent(session=db, subject_id=_citizen(session), agency=typed.agency,
                                purpose=typed.purpose, fields=typed.fields,
                                expires_at=expires_at.astimezone(UTC))  # fmt: skip
    except RuleRefused as refused:  # the rule again, as it records: e.g. the agency suspended
        said = page_refusal(refused)  # since the offers were read; nothing was recorded
        typed.errors[said.argument] = t(said.message_key, **said.values)
        return await _consents_page(request, console, session, typed=typed, status=422)
    return redirect("/me/consents?done=granted")


@router.post("/consents/{consent_id}/revoke")
async def withdraw_consent(
    *,
    request: Request,
    consent_id: Annotated[str, Path(max_length=64)],
    console: ConsoleDep,
    session: CitizenSession,
    _form: FormDep,
) -> Response:
    try:
        async with console.admin.transaction() as db:
            await revoke_consent(session=db, consent_id=consent_id, subject_id=_citizen(session))
    except ConsentNotFound:
        refusal = translator(language(request))("me.consent.not_yours")
        return await _consents_page(request, console, session, refusal=refusal, status=404)
    return redirect("/me/consents?done=revoked")
