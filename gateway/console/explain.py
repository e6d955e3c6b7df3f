"""Explain in the console: "would agency X see field Y of subject Z for purpose P, and why" — a
form over the admin API's explain service (gateway/admin/explain/service.py: the same Rego the
gateway runs, the agreements it would hand the engine, the subject's consents read fresh), the
answer shown field by field with the policy's reason, the legal basis, the mask, and each
agreement it considered. The read is logged as the admin API logs it (`Admin.record_read`, an
`oversight` entry under the subject), before the page leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gateway.admin.agencies import service as agencies
from gateway.admin.explain import service
from gateway.admin.explain.models import ExplainOut
from gateway.admin.problems import Problem
from gateway.admin.purposes import service as purposes
from gateway.admin.schema_rules import object_type
from gateway.admin.types import CLIENT_ID, PURPOSE_CODE
from gateway.console.inputs import GENERAL
from gateway.console.web import ConsoleDep, StewardDep, render
from gateway.subjects import RELATIONS, SUBJECT_KINDS

router = APIRouter(prefix="/explain")
INPUTS = frozenset({"agency", "purpose", "type", "subject", "field", "fields", "via"})
Text = Annotated[str, Query(max_length=200)]


@dataclass
class Question:
    agency: str = ""
    purpose: str = ""
    type: str = "Resident"
    subject: str = ""
    fields: list[str] = field(default_factory=list)
    via: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    def error(self, argument: str, message: str) -> None:
        name = "field" if argument == "fields" else argument
        self.errors.setdefault(name if name in INPUTS else GENERAL, []).append(message)


@router.get("")
async def explain_page(
    *,
    request: Request,
    console: ConsoleDep,
    steward: StewardDep,
    agency: Text = "",
    purpose: Text = "",
    type: Text = "Resident",
    subject: Text = "",
    field: Annotated[list[str] | None, Query(max_length=100)] = None,
    via: Text = "",
    ask: Text = "",
) -> Response:
    """The question's form; with `ask`, the answer below it."""
    question = Question(agency=agency.strip(), purpose=purpose.strip(), type=type,
                        subject=subject.strip(), fields=list(field or []),
                        via=via.strip())  # fmt: skip
    if question.type not in SUBJECT_KINDS:
        question.error("type", f"{type!r}: one of {', '.join(SUBJECT_KINDS)}")
        question.type = "Resident"
    answer: ExplainOut | None = None
    status = 200
    if ask:
        answer, status = await _ask(console, steward, question)
    async with console.admin.transaction() as session:
        found, _ = await agencies.list_agencies(session=session, status=None, limit=100,
                                                cursor=None)  # fmt: skip
        standing, _ = await purposes.list_purposes(session=session, limit=100, cursor=None)
    schema_type = object_type(console.admin.schema, question.type)
    relations = sorted(v for v, r in RELATIONS.items() if question.type in r.targets)
    return render(request, "explain.html", status=status, nav="explain", question=question,
                  answer=answer, agencies=[a.client_id for a in found],
                  purposes=[p.code for p in standing if p.in_force], types=list(SUBJECT_KINDS),
                  schema_fields=list(schema_type.fields), relations=relations,
                  general=GENERAL)  # fmt: skip


async def _ask(
    console: ConsoleDep, steward: StewardDep, question: Question
) -> tuple[ExplainOut | None, int]:
    """The admin API's explain, with its input checked as its query parameters are
    (gateway/admin/explain/views.py) and its refusals shown at their inputs."""
    if not re.fullmatch(CLIENT_ID, question.agency):
        question.error("agency", "choose an agency")
    if not re.fullmatch(PURPOSE_CODE, question.purpose):
        question.error("purpose", "choose a purpose")
    if not question.subject:
        question.error("subject", "type the subject's key (a personal ID, an enterprise code …)")
    if not question.fields:
        question.error("field", "tick at least one field")
    if question.errors:
        return None, 422
    try:
        async with console.admin.transaction() as session:
            answer = await service.explain_access(
                session=session, schema=console.admin.schema, engine=console.admin.explainer,
                agreements=console.admin.services.agreements, agency=question.agency,
                purpose=question.purpose, subject_type=question.type, subject=question.subject,
                fields=question.fields, via=question.via or None,
            )  # fmt: skip
        await console.admin.record_read(
            steward=steward, read="explain",
            filters={"agency": question.agency, "purpose": question.purpose,
                     "type": question.type, "fields": question.fields,
                     "via": question.via or None},
            returned=1, subject=(SUBJECT_KINDS[question.type].audit_name, question.subject),
        )  # fmt: skip
    except Problem as refused:
        question.error(str(refused.extensions.get("argument", GENERAL)), refused.detail)
        return None, refused.status
    return answer, 200
