"""The decision table both engines must agree with (sample agreements of docs/contract.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.policy.engine import DecisionRequest

SAMPLE = json.loads(
    (Path(__file__).resolve().parents[4] / "infra/sample/policy.json").read_text(encoding="utf-8")
)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CITIZEN = "048085000123"
OTHER = "079203000456"


def agreements_of(agency: str) -> list[dict[str, Any]]:
    return [a for a in SAMPLE["agreements"] if a["agency"] == agency]


def consent(**overrides: Any) -> dict[str, Any]:
    base = {
        "subject": CITIZEN,
        "agency": "nganhang-abc",
        "purpose": "TD-VAY",
        "fields": ["fullName", "birthDate", "permanentAddress"],
        "granted_at": "2026-11-01T00:00:00Z",
        "expires_at": "2027-11-01T00:00:00Z",
        "revoked_at": None,
    }
    base.update(overrides)
    return base


MASKING_AGREEMENT = {
    **agreements_of("motcua-danang")[0],
    "agency": "bhxh-danang",
    "purpose": "BHXH",
    "fields": ["fullName", "birthDate", "id"],
    "masking": {"birthDate": "year_only", "id": "last4"},
    "legal_basis": "Luật Bảo hiểm xã hội 2024",
}


@dataclass(frozen=True)
class Row:
    name: str
    agency: str
    purpose: str | None
    type: str
    fields: tuple[str, ...]
    expected: dict[str, str]
    subject: str = CITIZEN
    via: str | None = None
    roles: tuple[str, ...] = ("agency",)
    citizen_id: str | None = None
    consents: tuple[dict[str, Any], ...] = ()
    agreements: tuple[dict[str, Any], ...] | None = None
    now: datetime = NOW
    reasons: dict[str, str] = field(default_factory=dict)

    def request(self) -> DecisionRequest:
        return DecisionRequest(
            agency=self.agency,
            roles=self.roles,
            purpose=self.purpose,
            type=self.type,
            subject=self.subject,
            fields=self.fields,
            agreements=self.agreements
            if self.agreements is not None
            else agreements_of(self.agency),
            consents=self.consents,
            via=self.via,
            citizen_id=self.citizen_id,
            now=self.now,
        )


def _all(fields: tuple[str, ...], outcome: str) -> dict[str, str]:
    return dict.fromkeys(fields, outcome)


CT01 = ("fullName", "birthDate", "sex", "permanentAddress", "household")
LOAN = ("fullName", "birthDate", "permanentAddress")
ENTERPRISE = ("name", "status", "charterCapital", "legalRepresentatives")
PARCEL = ("area", "landUse", "geometry", "rights")
NO_AGREEMENT = "no approved agreement in force for this agency, purpose and type"
OUTSIDE = "field outside the agreement"
NO_CONSENT = "consent required and none in force for this field"

ROWS: list[Row] = [
    # one-stop centre, residence registration
    Row("CT01 identity and address", "motcua-danang", "CT01", "Resident", CT01,
        _all(CT01, "allow")),
    Row("CT01 religion is outside", "motcua-danang", "CT01", "Resident", ("fullName", "religion"),
        {"fullName": "allow", "religion": "deny"}, reasons={"religion": OUTSIDE}),
    Row("CT01 ID card and spouse outside", "motcua-danang", "CT01", "Resident",
        ("idCardNumber", "spouseId"), _all(("idCardNumber", "spouseId"), "deny")),
    Row("CT01 household", "motcua-danang", "CT01", "Household", ("id", "headId", "members"),
        _all(("id", "headId", "members"), "allow")),
    Row("CT01 household head reached through the household", "motcua-danang", "CT01",
        "Resident", ("fullName", "id"), _all(("fullName", "id"), "allow"), via="Household.head"),
    Row("CT01 enterprise data is not for one-stop", "motcua-danang", "CT01", "Enterprise",
        ("name",), {"name": "deny"}, reasons={"name": NO_AGREEMENT}),
    Row("CT01 parcel data is not for one-stop", "motcua-danang", "CT01", "Parcel", ("area",),
        {"area": "deny"}),
    Row("one-stop with the tax purpose", "motcua-danang", "DKKD", "Resident", ("fullName",),
        {"fullName": "deny"}, reasons={"fullName": NO_AGREEMENT}),
    Row("one-stop without a purpose", "motcua-danang", None, "Resident", ("fullName",),
        {"fullName": "deny"}),
    Row("business household form", "motcua-danang", "DKHKD", "Resident",
        ("fullName", "permanentAddress", "household"),
        {"fullName": "allow", "permanentAddress": "allow", "household": "deny"}),
    Row("CT01 before the agreement began", "motcua-danang", "CT01", "Resident", ("fullName",),
        {"fullName": "deny"}, now=datetime(2025, 6, 30, tzinfo=UTC)),
    Row("CT01 on the day it began", "motcua-danang", "CT01", "Resident", ("fullName",),
        {"fullName": "allow"}, now=datetime(2025, 7, 1, 0, 0, 1, tzinfo=UTC)),
    Row("suspended agreement", "motcua-danang", "CT01", "Resident", ("fullName",),
        {"fullName": "deny"},
        agreements=tuple({**a, "status": "suspended"} for a in agreements_of("motcua-danang"))),
    Row("draft agreement", "motcua-danang", "CT01", "Resident", ("fullName",),
        {"fullName": "deny"},
        agreements=tuple({**a, "status": "draft"} for a in agreements_of("motcua-danang"))),
    Row("expired agreement", "motcua-danang", "CT01", "Resident", ("fullName",),
        {"fullName": "deny"},
        agreements=tuple({**a, "valid_to": "2026-01-01T00:00:00Z"}
                         for a in agreements_of("motcua-danang"))),
    Row("agreement of another agency does not carry over", "motcua-danang", "CT01", "Resident",
        ("fullName",), {"fullName": "deny"}, agreements=tuple(agreements_of("thue-hcm"))),
    # tax department, business registration
    Row("DKKD enterprise fields", "thue-hcm", "DKKD", "Enterprise", ENTERPRISE,
        _all(ENTERPRISE, "allow"), subject="0100233488"),
    Row("DKKD owners outside", "thue-hcm", "DKKD", "Enterprise", ("name", "owners"),
        {"name": "allow", "owners": "deny"}, subject="0100233488"),
    Row("DKKD representative's name via the enterprise", "thue-hcm", "DKKD", "Resident",
        ("fullName",), {"fullName": "allow"}, via="Enterprise.legalRepresentatives"),
    Row("DKKD representative's birth date is outside", "thue-hcm", "DKKD", "Resident",
        ("fullName", "birthDate"), {"fullName": "allow", "birthDate": "deny"},
        via="Enterprise.legalRepresentatives"),
    Row("DKKD resident looked up directly", "thue-hcm", "DKKD", "Resident", ("fullName",),
        {"fullName": "deny"}),
    Row("DKKD resident via another relation", "thue-hcm", "DKKD", "Resident", ("fullName",),
        {"fullName": "deny"}, via="Parcel.rights.holder"),
    Row("tax department with the land purpose", "thue-hcm", "CPXD", "Parcel", ("area",),
        {"area": "deny"}),
    # land office, construction permit
    Row("CPXD parcel", "tainguyen-danang", "CPXD", "Parcel", PARCEL, _all(PARCEL, "allow"),
        subject="w6ugq6x8t2bz"),
    Row("CPXD restrictions outside", "tainguyen-danang", "CPXD", "Parcel",
        ("area", "restrictions"), {"area": "allow", "restrictions": "deny"},
        subject="w6ugq6x8t2bz"),
    Row("CPXD holder's name", "tainguyen-danang", "CPXD", "Resident", ("fullName",),
        {"fullName": "allow"}, via="Parcel.rights.holder"),
    Row("CPXD holder's address outside", "tainguyen-danang", "CPXD", "Resident",
        ("fullName", "permanentAddress"), {"fullName": "allow", "permanentAddress": "deny"},
        via="Parcel.rights.holder"),
    Row("CPXD enterprise holder", "tainguyen-danang", "CPXD", "Enterprise", ("name", "status"),
        {"name": "allow", "status": "deny"}, via="Parcel.rights.holder", subject="0100233488"),
    Row("CPXD resident directly", "tainguyen-danang", "CPXD", "Resident", ("fullName",),
        {"fullName": "deny"}),
    # bank, loan appraisal with consent
    Row("TD-VAY without consent", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "deny"), reasons=dict.fromkeys(LOAN, NO_CONSENT)),
    Row("TD-VAY with consent", "nganhang-abc", "TD-VAY", "Resident", LOAN, _all(LOAN, "allow"),
        consents=(consent(),)),
    Row("TD-VAY consent for some fields", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        {"fullName": "allow", "birthDate": "deny", "permanentAddress": "deny"},
        consents=(consent(fields=["fullName"]),)),
    Row("TD-VAY revoked consent", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "deny"), consents=(consent(revoked_at="2026-11-20T00:00:00Z"),)),
    Row("TD-VAY expired consent", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "deny"), consents=(consent(expires_at="2026-11-21T00:00:00Z"),)),
    Row("TD-VAY consent not yet granted", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "deny"), consents=(consent(granted_at="2026-12-01T00:00:00Z"),)),
    Row("TD-VAY consent of another citizen", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "deny"), consents=(consent(subject=OTHER),)),
    Row("TD-VAY consent to another bank", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "deny"), consents=(consent(agency="nganhang-xyz"),)),
    Row("TD-VAY consent for another purpose", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "deny"), consents=(consent(purpose="MO-THE"),)),
    Row("TD-VAY consent does not widen the agreement", "nganhang-abc", "TD-VAY", "Resident",
        ("fullName", "religion"), {"fullName": "allow", "religion": "deny"},
        consents=(consent(fields=["fullName", "religion"]),)),
    Row("TD-VAY a revoked and a live consent", "nganhang-abc", "TD-VAY", "Resident", LOAN,
        _all(LOAN, "allow"),
        consents=(consent(revoked_at="2026-11-02T00:00:00Z"), consent())),
    # masking
    Row("masked birth date and ID", "bhxh-danang", "BHXH", "Resident",
        ("fullName", "birthDate", "id"),
        {"fullName": "allow", "birthDate": "mask", "id": "mask"},
        agreements=(MASKING_AGREEMENT,)),
    Row("clear wins over masked", "bhxh-danang", "BHXH", "Resident", ("birthDate",),
        {"birthDate": "allow"},
        agreements=(MASKING_AGREEMENT, {**MASKING_AGREEMENT, "masking": {}})),
    # citizens and stewards
    Row("a citizen reads their own record", "citizen-portal", None, "Resident",
        ("fullName", "religion", "spouseId"), _all(("fullName", "religion", "spouseId"), "allow"),
        roles=("citizen",), citizen_id=CITIZEN, agreements=()),
    Row("a citizen reads who accessed their record", "citizen-portal", None, "AccessLog",
        ("agency", "purpose"), _all(("agency", "purpose"), "allow"), roles=("citizen",),
        citizen_id=CITIZEN, agreements=()),
    Row("a citizen cannot read another's access log", "citizen-portal", None, "AccessLog",
        ("agency",), {"agency": "deny"}, roles=("citizen",), citizen_id=OTHER, agreements=()),
    Row("a citizen reads someone else", "citizen-portal", None, "Resident", ("fullName",),
        {"fullName": "deny"}, roles=("citizen",), citizen_id=OTHER, agreements=()),
    Row("a citizen role without an ID", "citizen-portal", None, "Resident", ("fullName",),
        {"fullName": "deny"}, roles=("citizen",), agreements=()),
    Row("a steward gets no personal data by role", "steward-console", None, "Resident",
        ("fullName",), {"fullName": "deny"}, roles=("steward",), agreements=()),
    Row("an unknown agency", "evil-corp", "CT01", "Resident", ("fullName",),
        {"fullName": "deny"}, agreements=()),
]  # fmt: skip
