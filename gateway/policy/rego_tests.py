"""Run the Rego unit tests (policies/*_test.rego, rules `test_*`) with the embedded engine."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import regorus

from gateway.policy.embedded import policy_files
from lienthong.resources import POLICIES_DIR

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\s+if\b", re.MULTILINE)


@dataclass(frozen=True)
class RegoTestResult:
    name: str
    passed: bool
    error: str | None = None


def run_rego_tests(folder: Path = POLICIES_DIR) -> list[RegoTestResult]:
    engine = regorus.Engine()
    for path in policy_files(folder):
        engine.add_policy(path.name, path.read_text(encoding="utf-8"))
    results = []
    for path in sorted(folder.glob("*_test.rego")):
        text = path.read_text(encoding="utf-8")
        engine.add_policy(path.name, text)
        package = _PACKAGE.search(text)
        if package is None:
            results.append(RegoTestResult(path.name, False, "no package declaration"))
            continue
        for rule in _TEST_RULE.findall(text):
            name = f"{package.group(1)}.{rule}"
            try:
                value = engine.eval_rule(f"data.{name}")
            except RuntimeError as error:
                results.append(RegoTestResult(name, False, str(error).strip().splitlines()[0]))
                continue
            results.append(RegoTestResult(name, value is True))
    return results
