"""The guard decides each (type, subject, fields, via) once per request, whichever way it is
asked: a compiled plan's `decide_many_now`, then the generic resolvers' DataLoader."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from gateway.graph.context import RequestDatabase
from gateway.graph.guard import Guard
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


async def test_every_decision_is_one_disclosure_per_subject() -> None:
    guard = _guard(CountingEngine())
    await guard.decide_many_now("Resident", ["048188000001"], ["id"])
    await guard.decide("Resident", "048188000001", ["fullName"], via="Household.head")
    disclosures = guard.disclosures(request_id="r", officer=None, operation="PrefillCT01")
    assert [(d.subject_type, d.subject_id) for d in disclosures] == [("resident", "048188000001")]
    assert disclosures[0].fields_denied == ["fullName", "id"]  # no purpose: deny by default


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
    disclosed = guard.disclosures(request_id="r", officer=None, operation=None)
    assert [d.subject_id for d in disclosed] == [
        "048188000001", "HK0001", "048188000002", "048188000003"
    ]  # fmt: skip
