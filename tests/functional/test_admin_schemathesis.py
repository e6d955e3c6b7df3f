"""schemathesis against `/admin/openapi.json` on a real uvicorn: generated valid and invalid
requests to every operation, with a steward token, and never a 5xx (bounded, derandomised)."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response as SchemathesisResponse
from schemathesis.generation.case import Case

from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from tests import clients
from tests.net import LIENTHONG, lienthong_serve

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = ROOT / "infra" / "sample" / "policy.json"
EXAMPLES_PER_OPERATION = 12
SAMPLE_AGREEMENT = "motcua-danang/CT01/Resident"


@pytest.fixture(scope="module")
def server(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Settings]]:
    settings = Settings(database_url=committed_database_url, home=tmp_path_factory.mktemp("st"))
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": settings.libpq_url,
        "LIENTHONG_HOME": str(settings.home),
    }
    subprocess.run(
        [str(LIENTHONG), "etl", "load", "agreements", str(SAMPLE_POLICY)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    with lienthong_serve(env) as base:
        yield base, settings


def test_no_request_makes_a_server_error(server: tuple[str, Settings]) -> None:
    base, app_settings = server
    token = DevIssuer(app_settings).mint(
        agency="steward-console", roles=clients.EVERY_SCOPE, extra_claims={"sub": "steward-fuzz"}
    )
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{base}/admin/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures: list[str] = []
    unsatisfiable: list[str] = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        # agreement ids contain slashes, which schemathesis never puts in a path parameter
        fixed = {"agreement_id": SAMPLE_AGREEMENT} if "{agreement_id}" in operation.path else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
                database=None, suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
            def call(case: Case) -> None:
                response: SchemathesisResponse = case.call(
                    base_url=f"{base}/admin", headers=headers
                )
                statuses[response.status_code // 100] += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} → {response.status_code}")
                case.validate_response(response, checks=[not_a_server_error])

            try:
                call()
            except Unsatisfiable:
                # nothing in this operation can be made invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
                unsatisfiable.append(operation.label)
    assert failures == []
    assert statuses[2] > 50, statuses  # the token works: this is not a run of 401s
    assert statuses[4] > 50, statuses
    assert len(unsatisfiable) < len(operations) // 2, unsatisfiable
