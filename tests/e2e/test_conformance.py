"""GraphQL over HTTP as the specification's own audit sees it: graphql-http's `auditServer`
(npm, pinned in tests/conformance, installed by `make install`) run by Node against a real
`lienthong serve` in dev. Every audit must pass: no error (a MUST) and no warning (a SHOULD);
the optional ones (MAY, 'notice') are printed, not required.

The audit's operations are `{ __typename }`-like and need no purpose; every request it makes
carries an agency's dev token (the gateway answers nothing without one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
AUDIT_DIR = ROOT / "tests" / "conformance"
AUDIT = AUDIT_DIR / "audit.mjs"
# graphql-http 1.23's server audits; fewer results means the audit did not really run
AT_LEAST = 60


def _audit(url: str, token: str) -> list[dict[str, Any]]:
    """graphql-http's server audit of `url`, every request carrying the token."""
    node = shutil.which("node")
    if node is None or not (AUDIT_DIR / "node_modules" / "graphql-http").exists():
        pytest.fail("Node and tests/conformance/node_modules are installed by `make install`")
    ran = subprocess.run(
        [node, str(AUDIT), url],
        env={**os.environ, "LIENTHONG_AUDIT_TOKEN": token},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, f"the audit did not run:\n{ran.stderr}"
    results: list[dict[str, Any]] = json.loads(ran.stdout)
    return results


def _describe(results: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{r['status']:5} {r['id']} {r['name']}\n      {r.get('reason')}; "
        f"answered {json.dumps(r.get('response'), ensure_ascii=False)}"
        for r in results
    )


def test_graphql_http_audit_passes_with_no_error_and_no_warning(gateway: str, home: Path) -> None:
    token = DevIssuer(Settings(home=home)).mint(agency="motcua-danang")
    results = _audit(f"{gateway}/graphql", token)
    assert len(results) >= AT_LEAST, results
    assert len({r["id"] for r in results}) == len(results)
    optional = [r for r in results if r["status"] == "notice"]
    if optional:  # MAY items: shown, not required
        print(f"optional (MAY) audits not passed:\n{_describe(optional)}")
    failing = [r for r in results if r["status"] in ("error", "warn")]
    assert not failing, f"{len(failing)} audit(s) did not pass:\n{_describe(failing)}"
    unknown = {r["status"] for r in results} - {"ok", "notice", "warn", "error"}
    assert not unknown, unknown


def test_the_audit_fails_a_server_that_is_not_graphql(gateway: str, home: Path) -> None:
    """The harness can fail: the same audit against the gateway's health endpoint (JSON, not
    GraphQL over HTTP) reports errors, and so does a token the gateway does not accept."""
    token = DevIssuer(Settings(home=home)).mint(agency="motcua-danang")
    health = _audit(f"{gateway}/healthz", token)
    assert [r for r in health if r["status"] == "error"], _describe(health)
    refused = _audit(f"{gateway}/graphql", "not-a-token")
    errors = [r for r in refused if r["status"] == "error"]
    assert errors, _describe(refused)
    assert all(r["response"]["status"] == 401 for r in errors), _describe(errors)
