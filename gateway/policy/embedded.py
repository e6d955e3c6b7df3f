"""The embedded engine: the same Rego, evaluated in-process by regorus (pinned in pyproject as
gordon-to-regorus). Any engine error is a PolicyUnavailable: the gateway denies.

Decisions run on regorus' compiled program (its RVM): the policy files are compiled once into a
program for the `verdict` rule — the decision's outcome as sets, shaped into a Decision here —
which is about three times faster than the tree-walking interpreter evaluating `decision` (`python
-m bench policy` prints both), and for `verdicts`, which decides the subjects of one level of an
answer (100 residents of a batch) together, 20 to an evaluation. Any other rule — the explain
function's `considered`, the Rego unit tests — is read through the interpreter's
`eval_rule_as_json`. The decision table runs through both, and a property test holds them equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import regorus
import structlog

from gateway.policy.engine import (
    DECISION_PATH,
    VERDICT_PATH,
    VERDICTS_PATH,
    Decision,
    DecisionRequest,
    PolicyUnavailable,
    batch_input,
)
from lienthong.resources import POLICIES_DIR

log = structlog.get_logger(__name__)
RULE = "data." + DECISION_PATH.replace("/", ".")
VERDICT_RULE = "data." + VERDICT_PATH.replace("/", ".")
VERDICTS_RULE = "data." + VERDICTS_PATH.replace("/", ".")
# Subjects per evaluation of `verdicts`: a level of 100 subjects with no consent costs about the
# same in chunks of 20 as in one run; 100 subjects each with a consent and five agreements
# requiring it overrun the VM's instruction limit in chunks of 50 (`decide_many_sync`).
LEVEL_CHUNK = 20


def policy_files(folder: Path = POLICIES_DIR) -> list[Path]:
    return sorted(p for p in folder.glob("*.rego") if not p.name.endswith("_test.rego"))


class EmbeddedEngine:
    def __init__(self, folder: Path = POLICIES_DIR) -> None:
        modules = [(p.name, p.read_text(encoding="utf-8")) for p in policy_files(folder)]
        try:
            self._interpreter = regorus.Engine()
            for name, source in modules:
                self._interpreter.add_policy(name, source)
            program = regorus.Program.compile_from_modules(
                "{}", modules, [VERDICT_RULE, VERDICTS_RULE]
            )
            self._vm = regorus.Rvm()
            self._vm.load_program(program)
        except Exception as error:
            raise PolicyUnavailable(f"the policies in {folder} could not be compiled") from error

    def decide_sync(self, request: DecisionRequest) -> Decision:
        return Decision.from_verdict(request, self._run(VERDICT_RULE, request.as_input()))

    def decide_many_sync(self, requests: Sequence[DecisionRequest]) -> list[Decision]:
        """Alike requests LEVEL_CHUNK to an evaluation, others one by one. regorus' VM stops a
        program after a fixed number of instructions (25,000, not settable from Python), which a
        level of many consenting subjects reaches, and a failed run costs as much as a good one: so
        levels go in chunks that stay well within it, and a chunk the engine still fails on is
        decided again as two halves, down to single requests, whose failure is the policy's
        (PolicyUnavailable)."""
        if len(requests) > LEVEL_CHUNK:
            return [
                decision
                for start in range(0, len(requests), LEVEL_CHUNK)
                for decision in self.decide_many_sync(requests[start : start + LEVEL_CHUNK])
            ]
        common = batch_input(requests)
        if common is None:
            return [self.decide_sync(request) for request in requests]
        try:
            verdicts = self._run(VERDICTS_RULE, common)
        except PolicyUnavailable as error:
            # Expected: the instruction limit. Anything else shows here as repeated warnings; the
            # engine's message may quote the input, so only whether it is the limit is logged.
            log.warning("a level failed in one evaluation; deciding it in halves",
                        subjects=len(requests),
                        instruction_limit="instruction limit" in str(error.__cause__))  # fmt: skip
            half = len(requests) // 2
            return self.decide_many_sync(requests[:half]) + self.decide_many_sync(requests[half:])
        return Decision.from_verdicts(requests, verdicts)

    def _run(self, rule: str, policy_input: dict[str, object]) -> object:
        try:
            self._vm.set_input_json(orjson.dumps(policy_input).decode())
            return orjson.loads(self._vm.execute_entry_point(rule))
        except Exception as error:  # regorus raises RuntimeError for everything
            raise PolicyUnavailable("the embedded policy engine failed") from error

    def evaluate(self, rule: str, request: DecisionRequest) -> str:
        """A rule's value as JSON for this request, through the interpreter."""
        try:
            self._interpreter.set_input_json(orjson.dumps(request.as_input()).decode())
            return str(self._interpreter.eval_rule_as_json(rule))
        except Exception as error:
            raise PolicyUnavailable("the embedded policy engine failed") from error

    def interpret(self, request: DecisionRequest) -> Decision:
        """The decision through the interpreter: the reference the compiled program must equal."""
        return Decision.from_result(request, orjson.loads(self.evaluate(RULE, request)))

    async def decide(self, request: DecisionRequest) -> Decision:
        return self.decide_sync(request)

    async def decide_many(self, requests: Sequence[DecisionRequest]) -> list[Decision]:
        return self.decide_many_sync(requests)
