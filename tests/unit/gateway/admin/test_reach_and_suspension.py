"""Who must approve a form (the registries its paths read), and who suspended an agency (the one
administrator who may not reactivate it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from gateway.admin.agencies.service import suspended_by
from gateway.admin.approvals import domains_of
from gateway.admin.purposes.service import form_reaches
from gateway.graph.forms import compile_form
from gateway.graph.schema import build_schema
from gateway.policy.models import Agency
from lienthong.resources import FORMS_DIR

SCHEMA = build_schema()._schema
START = datetime(2026, 1, 1, tzinfo=UTC)


def _form(subject_type: str, *paths: str) -> dict[str, Any]:
    return {
        "code": "TT01", "title": "t", "procedure": "p", "purpose": "CT01",
        "subject_type": subject_type,
        "fields": [{"key": f"k{n}", "label": "l", "path": path} for n, path in enumerate(paths)],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("subject_type", "paths", "reached"),
    [
        ("Resident", ["fullName", "permanentAddress.fullAddress"], {"Resident"}),
        ("Resident", ["household.head.fullName"], {"Resident", "Household"}),
        ("Enterprise", ["legalRepresentatives[0].resident.fullName"], {"Enterprise", "Resident"}),
        # a union on the way: each kind it may hold is read from its registry
        ("Parcel", ["rights[0].certificateNumber"], {"Parcel"}),
        ("Parcel", ["rights[0].holder.fullName"], {"Parcel", "Resident", "Enterprise"}),
    ],
)
def test_a_form_reaches_every_subject_type_its_paths_pass_through(
    subject_type: str, paths: list[str], reached: set[str]
) -> None:
    form = compile_form(_form(subject_type, *paths), SCHEMA, "test")
    assert form_reaches(form, SCHEMA) == reached


def test_the_published_forms_need_their_registries() -> None:
    needs = {}
    for path in sorted(FORMS_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        form = compile_form(document, SCHEMA, path.name)
        needs[form.code] = domains_of(form_reaches(form, SCHEMA))
    assert needs == {
        "CT01": {"population"},
        "HKD01": {"population"},
        "XD01": {"land", "population", "enterprise"},
    }


def _history(*steps: tuple[str, str | None]) -> list[Agency]:
    return [
        Agency(status=status, changed_by=by, valid_from=START + timedelta(days=n))
        for n, (status, by) in enumerate(steps)
    ]


def test_the_suspender_is_who_opened_the_latest_suspension() -> None:
    history = _history(
        ("active", "lan"), ("suspended", "lan"), ("active", "minh"), ("suspended", "hai"),
        ("suspended", "minh"),  # an edit while suspended
    )  # fmt: skip
    assert suspended_by(reversed(history)) == "hai"


def test_an_agency_never_suspended_has_no_suspender() -> None:
    assert suspended_by(_history(("active", "lan"), ("active", "minh"))) is None
