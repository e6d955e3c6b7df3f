"""`/me/corrections`: my correction requests (what I disputed, where each stands, and why the
stewards rejected one) and a form to report a field of my record as wrong (docs/corrections.md).

Keyed by the signed-in session's `citizen_id`, never by what the browser sends. Reports go
through the service `reportCorrection` uses (gateway/corrections/service.py), whose refusals are
shown at their input; the list is read as `myCorrections` reads it and logged as that field is
(a `self` entry, durable before the page leaves: gateway/console/me_data.py `SelfRead`).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as attribute
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.console.context import Console
from gateway.console.me_data import FieldLabels, SelfRead
from gateway.console.messages import translator
from gateway.console.sessions import ConsoleSession
from gateway.console.web import CitizenSession, ConsoleDep, FormDep, language, redirect, render
from gateway.corrections import service
from gateway.corrections.models import CorrectionEvent, CorrectionRequest
from gateway.graph.types import governed
from registries.corrections import CORRECTABLE

router = APIRouter()


@dataclass
class ReportForm:
    field: str = ""
    explanation: str = ""
    errors: dict[str, str] = attribute(default_factory=dict)


@dataclass(frozen=True)
class ShownCorrection:
    record: CorrectionRequest
    label: str
    steps: list[CorrectionEvent]


async def _page(
    request: Request,
    console: Console,
    session: ConsoleSession,
    *,
    typed: ReportForm | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    services = console.admin.services
    labels = FieldLabels(services.forms, console.admin.schema)
    citizen_id = str(session.citizen_id)
    async with SelfRead(services, session.principal(), "console /me/corrections") as reading:
        async with services.sessions() as db:
            records = await service.requests_of(
                session=db, subject_type="Resident", subject_id=citizen_id
            )
            steps = await service.history(session=db, request_ids=[r.request_id for r in records])
        reading.record(read="myCorrections", filters={}, returned=len(records))
        await reading.seal()
    shown = [
        ShownCorrection(r, labels.label("Resident", r.field, lang), steps.get(r.request_id, []))
        for r in records
    ]
    choices = [(name, labels.label("Resident", name, lang)) for name in CORRECTABLE["Resident"]]
    done = request.query_params.get("done") == "reported"
    return render(request, "me_corrections.html", status=status, nav="me_corrections",
                  corrections=shown, choices=choices, typed=typed or ReportForm(),
                  done=done)  # fmt: skip


@router.get("/corrections")
async def corrections(
    *, request: Request, console: ConsoleDep, session: CitizenSession
) -> Response:
    return await _page(request, console, session)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.post("/corrections")
async def report(
    *, request: Request, console: ConsoleDep, session: CitizenSession, form: FormDep
) -> Response:
    typed = ReportForm(field=_text(form, "field").strip(), explanation=_text(form, "explanation"))
    citizen_id = str(session.citizen_id)
    try:
        async with console.admin.transaction() as db:
            await service.report(
                session=db,
                subject_type="Resident",
                subject_id=citizen_id,
                field=typed.field,
                explanation=typed.explanation,
                known=governed("Resident"),
                reporter=service.Reporter(
                    "citizen", f"citizen-{citizen_id}", {"citizen_id": citizen_id}
                ),
            )
    except service.CorrectionRefused as refused:
        t = translator(language(request))
        typed.errors[refused.argument] = f"{t('me.corrections.refused')} {refused} ({refused.code})"
        return await _page(request, console, session, typed=typed, status=422)
    return redirect("/me/corrections?done=reported")
