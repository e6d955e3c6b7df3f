"""Policy data in PostgreSQL feeding decisions: consents, revocation, suspension, approval; and
loading it from a file, which approves nothing except into an empty store (the bootstrap)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import DecisionRequest
from gateway.policy.models import Agency, Agreement, Consent, PolicyVersion, Proposal, Purpose
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
    assert (again.changed, again.bootstrap, again.warning) == (0, False, None)
    count = (
        await loaded.execute(
            select(func.count()).select_from(Agreement).where(is_current(Agreement))
        )
    ).scalar_one()
    assert count == len(SAMPLE["agreements"])


async def _current(session: AsyncSession, model: type[Any], **key: str) -> Any:
    filters = [getattr(model, name) == value for name, value in key.items()]
    found = await session.execute(select(model).where(*filters, is_current(model)))
    return found.scalar_one_or_none()


async def test_the_first_load_of_an_empty_store_is_in_force_and_says_so(
    session: AsyncSession,
) -> None:
    first = await load_policy_document(session=session, document=SAMPLE, actor="etl")
    assert first.bootstrap
    assert first.changed == 18
    assert first.warning is not None
    assert "first bootstrap of an empty policy store" in first.warning
    assert "9 agreement(s)" in first.warning
    assert (first.submitted, first.proposed) == ([], [])
    agreement = await _current(session, Agreement, agreement_id="motcua-danang/CT01/Resident")
    assert (agreement.status, agreement.approved_by) == ("approved", "etl")
    purpose = await _current(session, Purpose, code="CT01")
    assert (purpose.changed_by, purpose.approved_by) == ("etl", "etl")
    cache = AgreementCache()
    assert await _decide(session, cache, "motcua-danang", "CT01", ["fullName"]) == {
        "fullName": "allow"
    }


def _changed_sample() -> dict[str, Any]:
    """The sample with what a later file might bring: a widened agreement, a new agency and its
    agreement (both "approved" in the file), a renamed purpose."""
    agreements = [dict(a) for a in SAMPLE["agreements"]]
    widened = next(
        a for a in agreements if (a["agency"], a["type"]) == ("motcua-danang", "Resident")
    )
    widened["fields"] = [*widened["fields"], "religion"]
    new_agency = {"client_id": "bhxh-danang", "name": "BHXH Đà Nẵng", "kind": "insurance",
                  "province": "48"}  # fmt: skip
    agreements.append({**widened, "agency": "bhxh-danang", "fields": ["id", "fullName"]})
    purposes = [dict(p) for p in SAMPLE["purposes"]]
    purposes[0]["title"] = "Đăng ký cư trú (mẫu CT01, sửa đổi)"
    return {**SAMPLE, "agencies": [*SAMPLE["agencies"], new_agency], "purposes": purposes,
            "agreements": agreements}  # fmt: skip


async def test_a_load_into_a_store_with_policy_approves_nothing(loaded: AsyncSession) -> None:
    cache = AgreementCache()
    assert await _decide(loaded, cache, "motcua-danang", "CT01", ["religion"]) == {
        "religion": "deny"
    }
    suspended, _ = await supersede(session=loaded, model=Agency,
                                   key={"client_id": "thue-hcm"},
                                   values={"status": "suspended"})  # fmt: skip
    document = _changed_sample()

    load = await load_policy_document(session=loaded, document=document, actor="etl-2")
    assert (load.bootstrap, load.warning) == (False, None)
    assert load.submitted == ["motcua-danang/CT01/Resident", "bhxh-danang/CT01/Resident"]
    assert load.proposed == ["CT01"]
    assert load.changed == 4  # the new agency, the purpose's proposal, two agreements
    for agreement_id in load.submitted:
        agreement = await _current(loaded, Agreement, agreement_id=agreement_id)
        assert (agreement.status, agreement.approved_by, agreement.changed_by) == (
            "submitted", None, "etl-2"
        )  # fmt: skip
    # the widened agreement is out of force until a steward approves it: nothing is given
    assert await _decide(loaded, cache, "motcua-danang", "CT01", ["religion", "fullName"]) == {
        "religion": "deny",
        "fullName": "deny",
    }
    new_agency = await _current(loaded, Agency, client_id="bhxh-danang")
    assert (new_agency.status, new_agency.province) == ("active", "48")
    thue = await _current(loaded, Agency, client_id="thue-hcm")
    assert thue.status == "suspended"  # a load reactivates nobody
    assert thue.version_id == suspended.version_id
    purpose = await _current(loaded, Purpose, code="CT01")
    assert purpose.title == SAMPLE["purposes"][0]["title"]  # in force until approved
    proposal = await _current(loaded, Proposal, kind="purpose", code="CT01")
    assert (proposal.status, proposal.proposed_by, proposal.needs) == (
        "submitted", "etl-2", ["platform"]
    )  # fmt: skip
    assert proposal.document["title"] == "Đăng ký cư trú (mẫu CT01, sửa đổi)"

    again = await load_policy_document(session=loaded, document=document, actor="etl-2")
    assert (again.changed, again.submitted, again.proposed) == (0, [], [])
    # approved by a steward since: loading the same file again takes nothing back
    await supersede(session=loaded, model=Agreement,
                    key={"agreement_id": "motcua-danang/CT01/Resident"},
                    values={"status": "approved", "approved_by": "steward-2"})  # fmt: skip
    after = await load_policy_document(session=loaded, document=document, actor="etl-2")
    assert after.changed == 0
    assert (
        await _current(loaded, Agreement, agreement_id="motcua-danang/CT01/Resident")
    ).status == ("approved")


async def test_a_store_holding_only_an_agency_is_no_longer_empty(session: AsyncSession) -> None:
    agency = {"name": "Sở Tư pháp", "kind": "justice", "status": "active"}
    await supersede(session=session, model=Agency, key={"client_id": "so-tuphap"}, values=agency)
    load = await load_policy_document(session=session, document=SAMPLE, actor="etl")
    assert (load.bootstrap, load.warning) == (False, None)
    assert len(load.submitted) == len(SAMPLE["agreements"])
    assert sorted(load.proposed) == sorted(p["code"] for p in SAMPLE["purposes"])
    approved = await session.execute(
        select(func.count()).where(Agreement.status == "approved", is_current(Agreement))
    )
    assert approved.scalar_one() == 0


async def test_a_province_must_be_two_digits(session: AsyncSession) -> None:
    bad = {**SAMPLE, "agencies": [{**SAMPLE["agencies"][0], "province": "480"}]}
    with pytest.raises(ValueError, match="province must be a 2-digit code"):
        await load_policy_document(session=session, document=bad, actor="etl")


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
    """The table's own check, under the rule `grant_consent` applies first (which refuses such
    a consent before it writes: tests/functional/test_policy_consents.py)."""
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError, match="expires_after_granted"):
        await supersede(
            session=loaded,
            model=Consent,
            key={"consent_id": "expired-at-birth"},
            values={
                "subject_id": CITIZEN, "agency": "nganhang-abc", "purpose": "TD-VAY",
                "fields": ["fullName"], "granted_at": now, "revoked_at": None,
                "expires_at": now - timedelta(days=1),
            },
        )  # fmt: skip


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
