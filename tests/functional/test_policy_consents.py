"""What a citizen may consent to (gateway/policy/consents.py), against the sample policy in a
real PostgreSQL, each test in a transaction rolled back: the scopes offered, and every refusal
of `grant_consent` — its code, the input it names, and nothing written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.policy.consents import (
    MAX_CONSENT_FIELDS,
    ConsentRefused,
    ConsentScope,
    consent_scopes,
    consent_within,
)
from gateway.policy.models import Agency, Agreement, Consent
from gateway.policy.service import grant_consent, load_policy_document
from registries.history import is_current, supersede

SAMPLE = json.loads(
    (Path(__file__).resolve().parents[2] / "infra/sample/policy.json").read_text(encoding="utf-8")
)
CITIZEN = "048085000123"
BANK = {"agency": "nganhang-abc", "purpose": "TD-VAY"}
BANK_FIELDS = ("fullName", "birthDate", "permanentAddress")  # the sample's consent agreement


@pytest.fixture
async def loaded(session: AsyncSession) -> AsyncSession:
    await load_policy_document(session=session, document=SAMPLE, actor="steward-1")
    return session


def _in(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def _consents(session: AsyncSession) -> int:
    found = await session.execute(
        select(func.count()).where(Consent.subject_id == CITIZEN, is_current(Consent))
    )
    return int(found.scalar_one())


async def _change(
    session: AsyncSession, model: type[Any], key: dict[str, str], **values: Any
) -> None:
    await supersede(session=session, model=model, key=key, values=values)


async def test_only_approved_consent_agreements_in_force_of_active_agencies_are_offered(
    loaded: AsyncSession,
) -> None:
    # the sample's one agreement that needs consent; the one-stop centre's and the others' do not
    assert await consent_scopes(session=loaded) == [
        ConsentScope(
            agency="nganhang-abc",
            purpose="TD-VAY",
            fields=BANK_FIELDS,
            legal_basis="Luật Bảo vệ dữ liệu cá nhân 2025: sự đồng ý của chủ thể dữ liệu",
        )
    ]
    assert await consent_scopes(session=loaded, agency="motcua-danang") == []
    bank = {"agreement_id": "nganhang-abc/TD-VAY/Resident"}
    for change in ({"status": "suspended"}, {"status": "submitted"},
                   {"effective_to": _in(-1)}, {"effective_from": _in(1)}):  # fmt: skip
        async with loaded.begin_nested() as undo:
            await _change(loaded, Agreement, bank, **change)
            assert await consent_scopes(session=loaded, **BANK) == [], change
            await undo.rollback()
    assert len(await consent_scopes(session=loaded, **BANK)) == 1  # each change undone
    await _change(loaded, Agency, {"client_id": "nganhang-abc"}, status="suspended")
    assert await consent_scopes(session=loaded) == []


async def test_a_consent_within_the_agreement_is_recorded(loaded: AsyncSession) -> None:
    consent = await grant_consent(
        session=loaded, subject_id=CITIZEN, fields=["birthDate", "fullName"],
        expires_at=_in(30), **BANK,
    )  # fmt: skip
    assert (consent.agency, consent.purpose, consent.fields) == (
        "nganhang-abc",
        "TD-VAY",
        ["birthDate", "fullName"],
    )
    assert await _consents(loaded) == 1


@dataclass(frozen=True)
class Case:
    why: str
    change: dict[str, Any]
    code: str
    argument: str


CASES = [
    Case("not a personal ID", {"subject_id": "999085000123"}, "PERSONAL_ID_PROVINCE",
         "subject_id"),
    Case("an end without a time zone", {"expires_at": datetime(2099, 1, 1)},
         "CONSENT_EXPIRY_ZONE", "expires_at"),
    Case("an end already past", {"expires_at": _in(-1)}, "CONSENT_EXPIRED", "expires_at"),
    Case("an agency never registered", {"agency": "nobody-here"}, "CONSENT_AGENCY_INACTIVE",
         "agency"),
    Case("a purpose not in the catalogue", {"purpose": "KHONG-CO"}, "CONSENT_UNKNOWN_PURPOSE",
         "purpose"),
    Case("an agreement that needs no consent", {"agency": "motcua-danang", "purpose": "CT01"},
         "CONSENT_NO_AGREEMENT", "agency"),
    Case("no field", {"fields": []}, "CONSENT_NO_FIELDS", "fields"),
    Case("more fields than any consent holds", {"fields": ["fullName"] * (MAX_CONSENT_FIELDS + 1)},
         "CONSENT_TOO_MANY_FIELDS", "fields"),
    Case("a field the agreement does not list", {"fields": ["fullName", "religion"]},
         "CONSENT_OUTSIDE_AGREEMENT", "fields"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.why for c in CASES])
async def test_a_consent_the_rule_refuses_is_not_recorded(loaded: AsyncSession, case: Case) -> None:
    asked: dict[str, Any] = {
        "subject_id": CITIZEN, **BANK, "fields": ["fullName"], "expires_at": _in(30),
        **case.change,
    }  # fmt: skip
    with pytest.raises(ConsentRefused) as refused:
        await grant_consent(session=loaded, **asked)
    assert (refused.value.code, refused.value.argument) == (case.code, case.argument)
    assert await _consents(loaded) == 0


async def test_a_refusal_says_what_was_refused(loaded: AsyncSession) -> None:
    with pytest.raises(ConsentRefused) as outside:
        await grant_consent(session=loaded, subject_id=CITIZEN, expires_at=_in(30),
                            fields=["fullName", "religion", "religion"], **BANK)  # fmt: skip
    assert outside.value.fields == ("religion",)
    assert str(outside.value) == (
        "the agreement does not let agency 'nganhang-abc' see religion even with consent "
        "(it lists fullName, birthDate, permanentAddress)"
    )
    # a suspended agency is said as such, not as a missing agreement
    await _change(loaded, Agency, {"client_id": "nganhang-abc"}, status="suspended")
    with pytest.raises(ConsentRefused) as suspended:
        await grant_consent(session=loaded, subject_id=CITIZEN, expires_at=_in(30),
                            fields=["fullName"], **BANK)  # fmt: skip
    assert suspended.value.code == "CONSENT_AGENCY_INACTIVE"
    assert str(suspended.value) == "no active agency 'nganhang-abc'"


def test_within_needs_only_the_scopes() -> None:
    """The part the citizens' page applies to the offers it shows, in the rule's order: the
    agreement first, then the number of fields, then each field."""
    scopes = [ConsentScope("nganhang-abc", "TD-VAY", BANK_FIELDS, "basis")]
    assert consent_within(scopes, fields=["fullName"], **BANK) is scopes[0]
    for fields, purpose, code in (
        ([], "CT01", "CONSENT_NO_AGREEMENT"),
        ([], "TD-VAY", "CONSENT_NO_FIELDS"),
        (["religion"] * (MAX_CONSENT_FIELDS + 1), "TD-VAY", "CONSENT_TOO_MANY_FIELDS"),
        (["religion"], "TD-VAY", "CONSENT_OUTSIDE_AGREEMENT"),
    ):
        with pytest.raises(ConsentRefused) as refused:
            consent_within(scopes, agency="nganhang-abc", purpose=purpose, fields=fields)
        assert refused.value.code == code
