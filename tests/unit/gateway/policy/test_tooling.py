"""`lienthong policy test` and `policy bundle`, and the runner and bundle behind them."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from gateway.policy.bundle import build_bundle
from gateway.policy.rego_tests import run_rego_tests
from lienthong.resources import POLICIES_DIR
from tests.net import LIENTHONG


def test_every_rego_test_passes() -> None:
    results = run_rego_tests()
    assert len(results) >= 14
    assert all(result.passed for result in results), [r for r in results if not r.passed]


def test_a_failing_rego_test_is_reported(tmp_path: Path) -> None:
    shutil.copy(POLICIES_DIR / "authz.rego", tmp_path)
    (tmp_path / "wrong_test.rego").write_text(
        "package lienthong.wrong_test\nimport rego.v1\nimport data.lienthong.authz\n"
        "test_strangers_get_everything if {\n"
        '\tauthz.decision.allow with input as {"agency": "x", "roles": [], "fields": ["a"],'
        ' "agreements": [], "consents": [], "now": "2026-01-01T00:00:00Z", "type": "Resident",'
        ' "subject": "1", "purpose": null, "via": null, "citizen_id": null}\n}\n',
        encoding="utf-8",
    )
    [result] = run_rego_tests(tmp_path)
    assert result.name == "lienthong.wrong_test.test_strangers_get_everything"
    assert not result.passed


def test_the_cli_runs_the_rego_tests() -> None:
    result = subprocess.run(
        [str(LIENTHONG), "policy", "test"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert " passed, 0 failed" in result.stderr


def test_bundles_are_reproducible_and_revised_by_content(tmp_path: Path) -> None:
    data = {"agreements": [{"agency": "a"}]}
    first, revision = build_bundle(data)
    again, same_revision = build_bundle(data)
    assert (first, revision) == (again, same_revision)
    _, other_revision = build_bundle({"agreements": []})
    assert other_revision != revision
    out = tmp_path / "b.tar.gz"
    out.write_bytes(first)
    with tarfile.open(out) as archive:
        names = archive.getnames()
        manifest = json.loads(archive.extractfile(".manifest").read())  # type: ignore[union-attr]
        stored = json.loads(archive.extractfile("lienthong/data.json").read())  # type: ignore[union-attr]
    assert manifest == {"revision": revision, "roots": ["lienthong"]}
    assert stored == data
    assert "policies/authz.rego" in names
    assert not any(name.endswith("_test.rego") for name in names)


def test_the_cli_writes_a_bundle_of_the_sample_agreements(tmp_path: Path) -> None:
    out = tmp_path / "lienthong.tar.gz"
    result = subprocess.run(
        [str(LIENTHONG), "policy", "bundle", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(out) as archive:
        data = json.loads(archive.extractfile("lienthong/data.json").read())  # type: ignore[union-attr]
    assert {a["agency"] for a in data["agreements"]} >= {"motcua-danang", "nganhang-abc"}
    missing = subprocess.run(
        [str(LIENTHONG), "policy", "bundle", str(out), "--data", str(tmp_path / "none.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
