"""The guard decides each (type, subject, fields, via) once per request, whichever way it is
asked: a compiled plan's `decide_many_now`, then the generic resolvers' DataLoader."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from gateway.errors import GatewayError
from gateway.graph.context import RequestDatabase
from gateway.graph.guard import SUBJECT_REASON, Grant, Guard
from gateway.identity.principal import Principal
from gateway.metrics import GatewayMetrics
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import Decision, DecisionRequest
from gateway.policy.service import AgreementCache


class CountingEngine(EmbeddedEngine):
    """The embedded engine, counting the decisions it is asked for and the calls asking."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []
        self.calls: list[list[str]] = []

    async def decide(self, request: DecisionRequest) -> Decision:
        self.asked.append(request.subject)
        self.calls.append([request.subject])
        return await super().decide(request)

    async def decide_many(self, requests: Sequence[DecisionRequest]) -> list[Decision]:
        self.asked.extend(request.subject for request in requests)
        self.calls.append([request.subject for request in requests])
        return await super().decide_many(requests)


def _guard(engine: CountingEngine) -> Guard:
    # No purpose: no agreements to fetch, so the database is never reached (nothing listens).
    sessions = async_sessionmaker(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/x"))
    principal = Principal(
        agency="motcua-danang",
        subject="s",
        roles=frozenset({"agency"}),
        token_id=None,
        expires_at=0,
    )
    return Guard(
        principal=principal,
        purpose=None,
        engine=engine,
        agreements=AgreementCache(),
        database=RequestDatabase(sessions),
        metrics=GatewayMetrics(),
    )


async def test_a_plans_decisions_are_not_made_again_by_the_dataloader() -> None:
    engine = CountingEngine()
    guard = _guard(engine)
    first = await guard.decide_many_now("Resident", ["048188000001", "048188000002"], ["id"])
    assert engine.asked == ["048188000001", "048188000002"]
    again = await guard.decide_many("Resident", ["048188000002", "048188000003"], ["id"])
    assert engine.asked == ["048188000001", "048188000002", "048188000003"]
    assert again[0] is first[1]
    assert await guard.decide("Resident", "048188000001", ["id"]) is first[0]
    assert len(engine.asked) == 3
    # other fields, or another relation, are another decision
    await guard.decide("Resident", "048188000001", ["id", "fullName"])
    await guard.decide("Resident", "048188000001", ["id"], via="Household.head")
    assert engine.asked[3:] == ["048188000001", "048188000001"]


async def test_a_decision_alone_is_no_disclosure() -> None:
    guard = _guard(CountingEngine())
    await guard.decide_many_now("Resident", ["048188000001"], ["id"])
    await guard.decide("Resident", "048188000001", ["fullName"], via="Household.head")
    assert guard.disclosures(request_id="r", officer=None, operation=None) == []


async def test_the_log_is_what_the_answer_wrote_one_row_per_subject() -> None:
    guard = _guard(CountingEngine())
    (refused,) = await guard.decide_many_now("Resident", ["048188000001"], ["id", "fullName"])
    with pytest.raises(GatewayError):  # no purpose: denied by default
        refused.admit("fullName")
    with pytest.raises(GatewayError) as whole:
        refused.check_subject("resident", lambda: ["id", "birthDate"])
    assert whole.value.extensions == {
        "code": "FORBIDDEN", "field": "resident", "reason": SUBJECT_REASON
    }  # fmt: skip
    shown = Grant(
        "Resident",
        "048188000002",
        Decision(
            allow=True,
            fields={"fullName": "allow", "birthDate": "mask", "sex": "deny"},
            reasons={"sex": "field outside the agreement"},
            legal_basis=["Luật Cư trú 2020"],
            masks={"birthDate": "year_only"},
        ),
        guard.entry("Resident", "048188000002"),
    )
    assert shown.give("fullName", shown.admit("fullName"), "Lê Văn A") == "Lê Văn A"
    assert shown.give("birthDate", shown.admit("birthDate"), "1985-04-02") == "1985"
    with pytest.raises(GatewayError):
        shown.admit("sex")
    guard.looked_up("Resident", "048188000003")
    guard.absent("Resident", "048188000003")
    rows = guard.disclosures(request_id="r", officer=None, operation=None)
    assert [
        (r.subject_id, r.fields_given, r.fields_masked, r.fields_denied, r.decision["outcome"])
        for r in rows
    ] == [
        ("048188000001", [], [], ["birthDate", "fullName", "id"], "refused"),
        ("048188000002", ["fullName"], ["birthDate"], ["sex"], "disclosed"),
        ("048188000003", [], [], [], "absent"),
    ]
    assert rows[1].legal_basis == "Luật Cư trú 2020"


async def test_a_levels_subjects_are_decided_in_one_call_each_as_alone() -> None:
    engine = CountingEngine()
    guard = _guard(engine)
    keys = [
        ("Resident", "048188000001", frozenset({"id"}), None),
        ("Household", "HK0001", frozenset({"members"}), "Resident.household"),
        ("Resident", "048188000002", frozenset({"id"}), None),
        ("Resident", "048188000003", frozenset({"id"}), "Household.head"),
    ]
    grants = await guard.loader.load_many(keys)
    assert engine.calls == [
        ["048188000001", "048188000002"],
        ["HK0001"],
        ["048188000003"],
    ]
    assert [g.subject for g in grants] == ["048188000001", "HK0001", "048188000002", "048188000003"]
    for key, grant in zip(keys, grants, strict=True):
        type_name, subject, fields, via = key
        alone = await EmbeddedEngine().decide(
            DecisionRequest(
                agency="motcua-danang", roles=("agency",), purpose=None, type=type_name,
                subject=subject, fields=sorted(fields), agreements=[], via=via,
            )
        )  # fmt: skip
        assert grant.decision == alone
    assert guard.disclosures(request_id="r", officer=None, operation=None) == []
