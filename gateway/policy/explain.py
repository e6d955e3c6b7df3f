"""Decision explanations for stewards: "would agency A get field F of subject S for purpose P
now, and why" — the same Rego, asked for its reasons and for each agreement it considered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import Decision, DecisionRequest, PolicyUnavailable


@dataclass(frozen=True)
class Explanation:
    field: str
    outcome: str  # allow, mask or deny
    reason: str
    legal_basis: list[str]
    mask: str | None
    considered: list[dict[str, Any]]


def explain(engine: EmbeddedEngine, request: DecisionRequest, field: str) -> Explanation:
    single = DecisionRequest(**{**request.__dict__, "fields": (field,)})
    decision: Decision = engine.decide_sync(single)
    try:
        considered = json.loads(engine.evaluate("data.lienthong.authz.considered", single))
    except PolicyUnavailable:
        considered = []
    outcome = decision.fields[field]
    if outcome == "deny":
        reason = decision.reasons.get(field, "no agreement gives this field")
    elif outcome == "mask":
        reason = f"given masked ({decision.masks[field]}) under: {'; '.join(decision.legal_basis)}"
    else:
        reason = f"given under: {'; '.join(decision.legal_basis)}"
    return Explanation(
        field=field,
        outcome=outcome,
        reason=reason,
        legal_basis=list(decision.legal_basis),
        mask=decision.masks.get(field),
        considered=list(considered),
    )
