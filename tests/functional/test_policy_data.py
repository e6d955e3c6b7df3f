"""Policy data in PostgreSQL feeding decisions: consents, revocation, suspension, approval."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import DecisionRequest
from gateway.policy.models import Agency, Agreement, PolicyVersion
from gateway.policy.service import (
    AgreementCache,
    ConsentNotFound,
    consents_of,
    grant_consent,
    load_policy_document,
    revoke_consent,
)
from registries.history import is_current, supersede

SAMPLE = json.loads(
    (Path(__file__).resolve().parents[2] / "infra/sample/policy.json").read_text(encoding="utf-8")
)
CITIZEN = "048085000123"
ENGINE = EmbeddedEngine()


@pytest.fixture
async def loaded(session: AsyncSession) -> AsyncSession:
    await load_policy_document(session=session, document=SAMPLE, actor="steward-1")
    return session


async def _decide(
    session: AsyncSession, cache: AgreementCache, agency: str, purpose: str, fields: list[str]
) -> dict[str, str]:
    request = DecisionRequest(
        agency=agency,
        roles=("agency",),
        purpose=purpose,
        type="Resident",
        subject=CITIZEN,
        fields=fields,
        agreements=await cache.agreements_for(session=session, agency=agency),
        consents=(await consents_of(session=session, subject_ids=[CITIZEN], agency=agency))[
            CITIZEN
        ],
    )
    return dict((await ENGINE.decide(request)).fields)


async def test_loading_is_idempotent(loaded: AsyncSession) -> None:
    again = await load_policy_document(session=loaded, document=SAMPLE, actor="steward-1")
    assert again == 0
    count = (
        await loaded.execute(
            select(func.count()).select_from(Agreement).where(is_current(Agreement))
        )
    ).scalar_one()
    assert count == len(SAMPLE["agreements"])


async def test_consent_grant_then_revoke_denies_the_next_decision(loaded: AsyncSession) -> None:
    cache = AgreementCache()
    fields = ["fullName", "birthDate"]
    assert await _decide(loaded, cache, "nganhang-abc", "TD-VAY", fields) == {
        "fullName": "deny",
        "birthDate": "deny",
    }
    consent = await grant_consent(
        session=loaded,
        subject_id=CITIZEN,
        agency="nganhang-abc",
        purpose="TD-VAY",
        fields=fields,
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )
    assert await _decide(loaded, cache, "nganhang-abc", "TD-VAY", fields) == dict.fromkeys(
        fields, "allow"
    )
    await revoke_consent(session=loaded, consent_id=consent.consent_id, subject_id=CITIZEN)
    assert await _decide(loaded, cache, "nganhang-abc", "TD-VAY", fields) == dict.fromkeys(
        fields, "deny"
    )


async def test_only_the_citizen_may_revoke_their_consent(loaded: AsyncSession) -> None:
    consent = await grant_consent(
        session=loaded,
        subject_id=CITIZEN,
        agency="nganhang-abc",
        purpose="TD-VAY",
        fields=["fullName"],
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    with pytest.raises(ConsentNotFound):
        await revoke_consent(
            session=loaded, consent_id=consent.consent_id, subject_id="079203000456"
        )
    with pytest.raises(ConsentNotFound):
        await revoke_consent(session=loaded, consent_id="no-such-consent", subject_id=CITIZEN)


async def test_suspending_an_agency_denies_its_next_decision(loaded: AsyncSession) -> None:
    cache = AgreementCache()
    assert await _decide(loaded, cache, "motcua-danang", "CT01", ["fullName"]) == {
        "fullName": "allow"
    }
    agency = (
        await loaded.execute(
            select(Agency).where(Agency.client_id == "motcua-danang", is_current(Agency))
        )
    ).scalar_one()
    await supersede(
        session=loaded,
        model=Agency,
        key={"client_id": agency.client_id},
        values={"status": "suspended"},
    )
    assert await _decide(loaded, cache, "motcua-danang", "CT01", ["fullName"]) == {
        "fullName": "deny"
    }


async def test_an_approval_reaches_the_next_decision(loaded: AsyncSession) -> None:
    cache = AgreementCache()
    assert await _decide(loaded, cache, "motcua-danang", "CT01", ["religion"]) == {
        "religion": "deny"
    }
    current = (
        await loaded.execute(
            select(Agreement).where(
                Agreement.agreement_id == "motcua-danang/CT01/Resident", is_current(Agreement)
            )
        )
    ).scalar_one()
    await supersede(
        session=loaded,
        model=Agreement,
        key={"agreement_id": current.agreement_id},
        values={"fields": [*current.fields, "religion"], "approved_by": "steward-2"},
    )
    assert await _decide(loaded, cache, "motcua-danang", "CT01", ["religion"]) == {
        "religion": "allow"
    }


async def test_a_consent_must_expire_after_it_is_granted(loaded: AsyncSession) -> None:
    with pytest.raises(IntegrityError, match="expires_after_granted"):
        await grant_consent(
            session=loaded,
            subject_id=CITIZEN,
            agency="nganhang-abc",
            purpose="TD-VAY",
            fields=["fullName"],
            expires_at=datetime.now(UTC) - timedelta(days=1),
        )


async def test_the_cache_answers_without_the_database_only_at_the_version_it_holds(
    loaded: AsyncSession,
) -> None:
    cache = AgreementCache()
    scope = {"agency": "motcua-danang", "purpose": "CT01", "subject_type": "Resident"}
    version = (await loaded.execute(select(PolicyVersion.version))).scalar_one()
    assert cache.cached_for(**scope, version=version) is None  # nothing loaded yet
    loaded_scope = await cache.agreements_for(session=loaded, **scope)
    assert [a["agreement_id"] for a in loaded_scope] == ["motcua-danang/CT01/Resident"]
    assert cache.cached_for(**scope, version=version) == loaded_scope
    assert cache.cached_for(**{**scope, "purpose": "TD-VAY"}, version=version) == []
    assert cache.cached_for(**{**scope, "agency": "bhxh-danang"}, version=version) is None
    assert cache.cached_for(**scope, version=version + 1) is None  # a newer version: reload
