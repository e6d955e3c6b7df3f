"""The embedded engine: the same Rego, evaluated in-process by regorus (pinned in pyproject as
gordon-to-regorus). Any engine error is a PolicyUnavailable: the gateway denies."""

from __future__ import annotations

import json
from pathlib import Path

import regorus

from gateway.policy.engine import DECISION_PATH, Decision, DecisionRequest, PolicyUnavailable

POLICIES_DIR = Path(__file__).resolve().parent.parent.parent / "policies"
RULE = "data." + DECISION_PATH.replace("/", ".")


def policy_files(folder: Path = POLICIES_DIR) -> list[Path]:
    return sorted(p for p in folder.glob("*.rego") if not p.name.endswith("_test.rego"))


class EmbeddedEngine:
    def __init__(self, folder: Path = POLICIES_DIR) -> None:
        self._engine = regorus.Engine()
        for path in policy_files(folder):
            self._engine.add_policy(path.name, path.read_text(encoding="utf-8"))

    def decide_sync(self, request: DecisionRequest) -> Decision:
        try:
            self._engine.set_input_json(json.dumps(request.as_input()))
        except Exception as error:  # regorus raises RuntimeError for everything
            raise PolicyUnavailable("the embedded policy engine refused the input") from error
        return Decision.from_result(request, json.loads(self.evaluate(RULE)))

    def evaluate(self, rule: str) -> str:
        """A rule's value as JSON, for the input set by the last decision."""
        try:
            return str(self._engine.eval_rule_as_json(rule))
        except Exception as error:
            raise PolicyUnavailable("the embedded policy engine failed") from error

    async def decide(self, request: DecisionRequest) -> Decision:
        return self.decide_sync(request)
