"""The decision table through the embedded engine and through OPA's REST API shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.embedded import EmbeddedEngine, policy_files
from gateway.policy.engine import Decision, DecisionRequest, PolicyUnavailable, batch_input
from gateway.policy.explain import explain
from gateway.policy.opa import OpaEngine
from lienthong.resources import POLICIES_DIR
from tests.opa import opa_stand_in
from tests.unit.gateway.policy.decision_table import (
    CITIZEN,
    NOW,
    OTHER,
    ROWS,
    Row,
    agreements_of,
    consent,
)

ENGINE = EmbeddedEngine()


def _check(row: Row, decision: Decision) -> None:
    assert dict(decision.fields) == row.expected, row.name
    assert decision.allow == any(v != "deny" for v in row.expected.values())
    for field_name, reason in row.reasons.items():
        assert decision.reasons[field_name] == reason
    for field_name, outcome in row.expected.items():
        if outcome == "mask":
            assert decision.masks[field_name] in {"year_only", "last4"}
        if outcome == "deny" and row.roles != ("citizen",):
            assert field_name in decision.reasons


def test_the_table_is_large_enough() -> None:
    assert len(ROWS) >= 40


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_embedded_engine(row: Row) -> None:
    _check(row, await ENGINE.decide(row.request()))


@pytest.fixture(scope="module")
def opa_url() -> Iterator[str]:
    """OPA's Data API on loopback (tests/opa.py), with the policy files loaded."""
    with opa_stand_in(policies=policy_files()) as opa:
        yield opa.url


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_opa_adapter(row: Row, opa_url: str) -> None:
    engine = OpaEngine(opa_url, timeout_seconds=5)
    try:
        _check(row, await engine.decide(row.request()))
    finally:
        await engine.close()


def _alike(request: DecisionRequest) -> list[DecisionRequest]:
    """The request, and the same for another subject with no consent and for the citizen."""
    return [
        request,
        replace(request, subject=OTHER, consents=()),
        replace(request, subject=CITIZEN, consents=()),
    ]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_opa_adapter_decides_alike_subjects_in_one_call_as_one_by_one(
    row: Row, opa_url: str
) -> None:
    requests = _alike(row.request())
    posted: list[str] = []
    engine = OpaEngine(opa_url, timeout_seconds=5, client=httpx.AsyncClient(
        timeout=5, event_hooks={"request": [lambda r: _record(posted, r)]},
    ))  # fmt: skip
    try:
        together = await engine.decide_many(requests)
        assert posted == ["/v1/data/lienthong/authz/verdicts"]
        assert together == [await engine.decide(r) for r in requests]
    finally:
        await engine.close()
    assert together == [ENGINE.decide_sync(r) for r in requests]


async def _record(posted: list[str], request: httpx.Request) -> None:
    posted.append(request.url.path)


async def test_opa_gives_a_verdict_for_every_subject_or_none_is_given() -> None:
    engine = OpaEngine(
        "http://opa.test",
        client=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"result": [{}]}))
        ),
    )
    with pytest.raises(PolicyUnavailable, match="every subject"):
        await engine.decide_many(_alike(ROWS[0].request()))


class SizedEngine(EmbeddedEngine):
    """The embedded engine, noting how many subjects each evaluation of `verdicts` held."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def _run(self, rule: str, policy_input: dict[str, object]) -> object:
        subjects = policy_input.get("subjects")
        if isinstance(subjects, list):
            self.sizes.append(len(subjects))
        return super()._run(rule, policy_input)


def _consenting_level(agreements: int, subjects: int) -> list[DecisionRequest]:
    """A level of consenting subjects under `agreements` agreements that each require consent:
    the heaviest evaluations, growing with both."""
    fields = ["fullName", "birthDate", "sex", "religion", "permanentAddress", "household", "id"]
    loans = [
        {**agreements_of("nganhang-abc")[0], "agreement_id": f"a{n}", "fields": fields}
        for n in range(agreements)
    ]
    return [
        DecisionRequest(
            agency="nganhang-abc",
            roles=("agency",),
            purpose="TD-VAY",
            type="Resident",
            subject=subject,
            fields=fields,
            agreements=loans,
            now=NOW,
            consents=(consent(subject=subject, fields=fields[: 1 + n % 7]),),
        )
        for n, subject in enumerate(f"0480850{n:05d}" for n in range(subjects))
    ]


@pytest.mark.parametrize(
    ("agreements", "subjects", "sizes"),
    [(5, 100, [20, 20, 20, 20, 20]), (20, 40, [20, 10, 10, 20, 10, 10])],
)
def test_levels_go_in_chunks_and_a_chunk_over_the_vms_limit_in_halves(
    agreements: int, subjects: int, sizes: list[int]
) -> None:
    requests = _consenting_level(agreements, subjects)
    engine = SizedEngine()
    together = engine.decide_many_sync(requests)
    assert engine.sizes == sizes
    assert together == [ENGINE.decide_sync(request) for request in requests]
    assert [len(d.fields) - list(d.fields.values()).count("deny") for d in together[:7]] == [
        1, 2, 3, 4, 5, 6, 7
    ]  # fmt: skip


def test_requests_differing_beyond_subject_and_consents_are_not_decided_together() -> None:
    request = ROWS[0].request()
    assert request.alike(replace(request, subject=OTHER, consents=(consent(),)))
    for change in ({"via": "Household.head"}, {"fields": ["x"]}, {"type": "Parcel"},
                   {"now": NOW.replace(minute=1)}, {"citizen_id": CITIZEN}):  # fmt: skip
        assert not request.alike(replace(request, **change))
    other = replace(request, type="Parcel", subject=OTHER)
    assert batch_input([request, other]) is None
    assert batch_input([request]) is None
    assert ENGINE.decide_many_sync([request, other]) == [
        ENGINE.decide_sync(request), ENGINE.decide_sync(other)
    ]  # fmt: skip


def _loan(consents: tuple[dict[str, Any], ...]) -> DecisionRequest:
    return DecisionRequest(
        agency="nganhang-abc",
        roles=("agency",),
        purpose="TD-VAY",
        type="Resident",
        subject=CITIZEN,
        fields=("fullName",),
        agreements=agreements_of("nganhang-abc"),
        consents=consents,
        now=NOW,
    )


async def test_revoking_a_consent_denies_the_very_next_decision() -> None:
    live = consent()
    assert (await ENGINE.decide(_loan((live,)))).fields == {"fullName": "allow"}
    revoked = {**live, "revoked_at": "2026-11-22T09:59:59Z"}
    assert (await ENGINE.decide(_loan((revoked,)))).fields == {"fullName": "deny"}


FIELD_NAMES = st.sampled_from(
    ["id", "fullName", "birthDate", "sex", "religion", "spouseId", "household", "geometry",
     "name", "charterCapital", "idCardNumber", "fatherId", "permanentAddress", "x"]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    fields=st.lists(FIELD_NAMES, min_size=1, max_size=8, unique=True),
    agency=st.sampled_from(["motcua-danang", "thue-hcm", "tainguyen-danang", "nganhang-abc"]),
    purpose=st.sampled_from(["CT01", "DKKD", "CPXD", "TD-VAY", "DKHKD", None]),
    kind=st.sampled_from(["Resident", "Enterprise", "Parcel", "Household"]),
    via=st.sampled_from([None, "Enterprise.legalRepresentatives", "Parcel.rights.holder"]),
    with_consent=st.booleans(),
)
def test_no_field_outside_an_applicable_agreement_is_ever_given(
    fields: list[str],
    agency: str,
    purpose: str | None,
    kind: str,
    via: str | None,
    with_consent: bool,
) -> None:
    agreements = agreements_of(agency)
    request = DecisionRequest(
        agency=agency, roles=("agency",), purpose=purpose, type=kind, subject=CITIZEN,
        fields=fields, agreements=agreements, consents=(consent(),) if with_consent else (),
        via=via, now=NOW,
    )  # fmt: skip
    decision = ENGINE.decide_sync(request)
    allowed_somewhere = {
        name
        for a in agreements
        if a["purpose"] == purpose and a["type"] == kind and (a["via"] is None or via in a["via"])
        for name in a["fields"]
    }
    for name, outcome in decision.fields.items():
        if outcome != "deny":
            assert name in allowed_somewhere


def _consents(state: str, subject: str, **live: Any) -> tuple[dict[str, Any], ...]:
    """A subject's consents in a given state: none, one in force, revoked, expired, or only
    another subject's; "citizen" is the citizen asking, with none."""
    return {
        "none": (), "citizen": (),
        "live": (consent(subject=subject, **live),),
        "revoked": (consent(subject=subject, revoked_at="2026-11-20T00:00:00Z", **live),),
        "expired": (consent(subject=subject, expires_at="2026-11-01T00:00:00Z", **live),),
        "other's": (consent(subject=OTHER, **live),),
    }[state]  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    fields=st.lists(FIELD_NAMES, min_size=1, max_size=8, unique=True),
    agency=st.sampled_from(["motcua-danang", "thue-hcm", "tainguyen-danang", "nganhang-abc"]),
    purpose=st.sampled_from(["CT01", "DKKD", "CPXD", "TD-VAY", None]),
    kind=st.sampled_from(["Resident", "Enterprise", "Parcel", "Household", "AccessLog"]),
    via=st.sampled_from([None, "Enterprise.legalRepresentatives", "Parcel.rights.holder"]),
    roles=st.sampled_from([("agency",), ("citizen",), ("steward",), ("agency", "citizen")]),
    states=st.lists(
        st.sampled_from(["none", "live", "revoked", "expired", "other's", "citizen"]),
        min_size=1,
        max_size=8,
    ),
)
def test_compiled_alone_together_and_interpreted_every_subject_gets_one_decision(
    fields: list[str],
    agency: str,
    purpose: str | None,
    kind: str,
    via: str | None,
    roles: tuple[str, ...],
    states: list[str],
) -> None:
    subjects = [f"0480850{n:05d}" for n in range(len(states))]
    citizen = subjects[states.index("citizen")] if "citizen" in states else CITIZEN
    live = {"agency": agency, "purpose": purpose, "fields": fields}
    level = DecisionRequest(
        agency=agency, roles=roles, purpose=purpose, type=kind, subject="", fields=fields,
        agreements=agreements_of(agency), via=via,
        citizen_id=citizen if "citizen" in roles else None, now=NOW,
    )  # fmt: skip
    requests = [
        replace(level, subject=subject, consents=_consents(state, subject, **live))
        for subject, state in zip(subjects, states, strict=True)
    ]
    alone = [ENGINE.decide_sync(request) for request in requests]
    assert alone == [ENGINE.interpret(request) for request in requests]
    assert ENGINE.decide_many_sync(requests) == alone


@settings(max_examples=40, deadline=None)
@given(
    fields=st.lists(FIELD_NAMES, min_size=1, max_size=5, unique=True),
    minutes=st.integers(0, 10_000),
)
def test_a_revoked_consent_never_allows(fields: list[str], minutes: int) -> None:
    revoked = consent(fields=fields, revoked_at=f"2026-11-{1 + minutes % 21:02d}T00:00:00Z")
    request = DecisionRequest(
        agency="nganhang-abc", roles=("agency",), purpose="TD-VAY", type="Resident",
        subject=CITIZEN, fields=fields, agreements=agreements_of("nganhang-abc"),
        consents=(revoked,), now=NOW,
    )  # fmt: skip
    assert not ENGINE.decide_sync(request).allow


def test_policies_avoid_builtins_the_embedded_engine_lacks() -> None:
    forbidden = re.compile(r"\b(strings\.split_n|array\.flatten|crypto\.|io\.jwt\.)")
    for path in POLICIES_DIR.glob("*.rego"):
        assert not forbidden.search(path.read_text(encoding="utf-8")), path.name


async def test_an_engine_error_is_unavailable_never_allow(tmp_path: Path) -> None:
    (tmp_path / "broken.rego").write_text(
        "package lienthong.authz\nimport rego.v1\n"
        "verdict := 1 / 0 if true\nverdicts := [1 / 0] if true\ndecision := 1 / 0 if true\n",
        encoding="utf-8",
    )
    engine = EmbeddedEngine(tmp_path)
    with pytest.raises(PolicyUnavailable):
        await engine.decide(ROWS[0].request())
    with pytest.raises(PolicyUnavailable):
        engine.interpret(ROWS[0].request())
    with pytest.raises(PolicyUnavailable):
        await engine.decide_many(_alike(ROWS[0].request()))


def test_a_policy_without_the_decision_rules_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "other.rego").write_text("package other\nimport rego.v1\nx := 1\n", "utf-8")
    with pytest.raises(PolicyUnavailable, match="could not be compiled"):
        EmbeddedEngine(tmp_path)


async def test_a_malformed_answer_denies_every_field() -> None:
    request = ROWS[0].request()
    decision = Decision.from_result(
        request, {"allow": True, "fields": {"fullName": "maybe"}, "obligations": {}}
    )
    assert set(decision.fields.values()) == {"deny"}
    assert not decision.allow
    masked_without_kind = Decision.from_result(
        request, {"allow": True, "fields": {"fullName": "mask"}, "obligations": {"mask": {}}}
    )
    assert masked_without_kind.fields["fullName"] == "deny"
    with pytest.raises(PolicyUnavailable):
        Decision.from_result(request, None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_opa_down_times_out_then_the_circuit_opens() -> None:
    calls = 0

    def failing(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    clock = Clock()
    engine = OpaEngine(
        "http://opa.invalid", failures_to_open=3, open_seconds=10, clock=clock,
        client=httpx.AsyncClient(transport=httpx.MockTransport(failing)),
    )  # fmt: skip
    for _ in range(3):
        with pytest.raises(PolicyUnavailable, match="did not answer"):
            await engine.decide(ROWS[0].request())
    assert engine.circuit_open
    with pytest.raises(PolicyUnavailable, match="circuit open"):
        await engine.decide(ROWS[0].request())
    assert calls == 3  # an open circuit does not call OPA
    clock.now = 11
    with pytest.raises(PolicyUnavailable, match="did not answer"):
        await engine.decide(ROWS[0].request())
    assert calls == 4


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [(500, {"code": "internal_error"}, "did not answer"), (200, {}, "no decision")],
)
async def test_opa_errors_and_undefined_results_are_unavailable(
    status: int, body: dict[str, Any], message: str
) -> None:
    engine = OpaEngine(
        "http://opa.test",
        client=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(status, json=body))
        ),
    )
    with pytest.raises(PolicyUnavailable, match=message):
        await engine.decide(ROWS[0].request())


def test_explain_names_the_reason_and_the_agreements_considered() -> None:
    request = DecisionRequest(
        agency="thue-hcm", roles=("agency",), purpose="DKKD", type="Resident", subject=CITIZEN,
        fields=("fullName",), agreements=agreements_of("thue-hcm"), now=NOW,
    )  # fmt: skip
    direct = explain(ENGINE, request, "fullName")
    assert direct.outcome == "deny"
    assert direct.reason == "no approved agreement in force for this agency, purpose and type"
    resident_agreement = next(c for c in direct.considered if c["type_matches"])
    assert resident_agreement["applies"] is False
    assert resident_agreement["via"] == ["Enterprise.legalRepresentatives"]
    nested = explain(
        ENGINE,
        DecisionRequest(**{**request.__dict__, "via": "Enterprise.legalRepresentatives"}),
        "fullName",
    )
    assert nested.outcome == "allow"
    assert "Luật Quản lý thuế" in nested.reason
    masked_row = next(row for row in ROWS if row.name == "masked birth date and ID")
    masked = explain(ENGINE, masked_row.request(), "id")
    assert masked.outcome == "mask"
    assert masked.mask == "last4"
