"""Policy decisions: `python -m bench policy [--decisions=N] [--rounds=R]`.

In one run, on a scratch database holding 50 agreements and 10,000 consents: per decision, the
embedded engine is handed what the gateway hands it (the agency's agreements from the cache,
the subject's consents from one query) and decides a 20-field request. Prints decisions/s and
the latency percentiles of data fetch + decision (one after the other, as the gateway does them),
then of the adapter alone over the same requests back to back: the compiled program the gateway
decides with, the interpreter's `eval_rule_as_json` for comparison, and the compiled program
deciding them as levels of 100 alike subjects together (`verdicts`, in chunks, as a batch
query's levels are decided) — R rounds (`--rounds`, default 5), of which the quietest counts:
these machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bench.bench_etl import _drop, _option, _scratch_database
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import DecisionRequest, batch_input
from gateway.policy.models import Consent
from gateway.policy.service import AgreementCache, consents_of, load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory

T = TypeVar("T")
# Subjects per level when deciding together, as a batch of 100 residents does.
BATCH = 100
FIELDS = [
    "id", "fullName", "birthDate", "sex", "ethnicity", "nationality", "permanentAddress",
    "temporaryAddress", "household", "relationshipToHead", "religion", "placeOfBirth",
    "hometown", "fatherId", "motherId", "spouseId", "maritalStatus", "idCardNumber",
    "idCardIssuedOn", "deceased",
]  # fmt: skip


def _document() -> dict[str, object]:
    agreements = []
    for n in range(50):
        agreements.append(
            {
                "agency": "nganhang-abc" if n < 5 else f"agency-{n}",
                "purpose": "TD-VAY" if n < 5 else f"P{n}",
                "type": ["Resident", "Enterprise", "Parcel", "Household", "Resident"][n % 5],
                "fields": FIELDS[: 5 + n % 15],
                "legal_basis": "consent",
                "consent_required": n < 5,
                "via": None,
                "masking": {"birthDate": "year_only"} if n % 7 == 0 else {},
                "status": "approved",
                "valid_from": "2025-07-01T00:00:00+00:00",
                "valid_to": None,
            }
        )
    return {
        "agencies": [{"client_id": "nganhang-abc", "name": "ABC", "kind": "bank"}],
        "purposes": [],
        "agreements": agreements,
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _timed(decide: Callable[[T], object], requests: list[T]) -> list[float]:
    timings = []
    for request in requests:
        started = time.perf_counter()
        decide(request)
        timings.append(time.perf_counter() - started)
    return timings


async def _run(url: str, decisions: int, rounds: int) -> dict[str, float]:
    engine = create_engine(Settings(database_url=url))
    sessions = session_factory(engine)
    subjects = [f"048{n:09d}" for n in range(10_000)]
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await load_policy_document(session=session, document=_document(), actor="bench")
        session.add_all(
            Consent(
                consent_id=f"c{n}", subject_id=subject, agency="nganhang-abc", purpose="TD-VAY",
                fields=FIELDS[:10], granted_at=now - timedelta(days=1),
                expires_at=now + timedelta(days=365), revoked_at=None, channel="online",
            )
            for n, subject in enumerate(subjects)
        )  # fmt: skip
    policy = EmbeddedEngine()
    cache = AgreementCache()
    rng = random.Random(1)
    requests: list[DecisionRequest] = []
    with_data: list[float] = []
    async with sessions() as session:
        for _ in range(decisions):
            subject = rng.choice(subjects)
            started = time.perf_counter()
            agreements = await cache.agreements_for(
                session=session, agency="nganhang-abc", purpose="TD-VAY", subject_type="Resident"
            )
            consents = await consents_of(
                session=session, subject_ids=[subject], agency="nganhang-abc"
            )
            request = DecisionRequest(
                agency="nganhang-abc", roles=("agency",), purpose="TD-VAY", type="Resident",
                subject=subject, fields=FIELDS, agreements=agreements,
                consents=consents[subject],
            )  # fmt: skip
            decision = policy.decide_sync(request)
            with_data.append(time.perf_counter() - started)
            if decision.fields["fullName"] != "allow":
                raise SystemExit("the benchmark's consent was not honoured: check the policy")
            if policy.interpret(request) != decision:
                raise SystemExit("the compiled program and the interpreter disagree")
            requests.append(request)
    # The adapter alone, back to back over the requests built above from the database; and the
    # same requests as levels of BATCH alike subjects (one instant each), every one consenting.
    levels = [
        [replace(request, now=now) for request in requests[start : start + BATCH]]
        for start in range(0, len(requests), BATCH)
    ]
    if any(batch_input(level) is None for level in levels):
        raise SystemExit("the levels are not alike: they would be decided one by one")
    if [policy.decide_many_sync(level) for level in levels] != [
        [policy.decide_sync(request) for request in level] for level in levels
    ]:
        raise SystemExit("subjects decided together and alone disagree")
    engine_rounds, interpreter_rounds, batch_rounds = [], [], []
    for _ in range(rounds):
        engine_rounds.append(_timed(policy.decide_sync, requests))
        interpreter_rounds.append(_timed(policy.interpret, requests))
        batch_rounds.append(sum(_timed(policy.decide_many_sync, levels)))
    engine_only, interpreted = min(engine_rounds, key=sum), min(interpreter_rounds, key=sum)
    await engine.dispose()
    return {
        "decisions": decisions,
        "rounds": rounds,
        "engine_decisions_per_s": round(len(engine_only) / sum(engine_only)),
        "engine_p50_us": round(statistics.median(engine_only) * 1e6),
        "engine_p99_us": round(_percentile(engine_only, 0.99) * 1e6),
        "interpreter_decisions_per_s": round(len(interpreted) / sum(interpreted)),
        "interpreter_p50_us": round(statistics.median(interpreted) * 1e6),
        "interpreter_p99_us": round(_percentile(interpreted, 0.99) * 1e6),
        "batch_decisions_per_s": round(len(requests) / min(batch_rounds)),
        "with_data_p50_us": round(statistics.median(with_data) * 1e6),
        "with_data_p99_us": round(_percentile(with_data, 0.99) * 1e6),
    }


def main(argv: list[str]) -> None:
    decisions = _option(argv, "--decisions", 5_000)
    rounds = _option(argv, "--rounds", 5)
    settings = Settings()
    url = _scratch_database(settings)
    try:
        figures = asyncio.run(_run(url, decisions, rounds))
    finally:
        _drop(settings, url)
    for name, value in figures.items():
        print(f"{name:>24}: {value}")
    target = settings.home / "bench"
    target.mkdir(parents=True, exist_ok=True)
    (target / "policy.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
