"""OPA as a sidecar: the REST Data API (`POST /v1/data/<path>`), with tight timeouts and a
circuit breaker so a dead sidecar costs requests nothing but a fast UNAVAILABLE."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from gateway.policy.engine import (
    DECISION_PATH,
    VERDICTS_PATH,
    Decision,
    DecisionRequest,
    PolicyUnavailable,
    batch_input,
)


class OpaEngine:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 0.25,
        failures_to_open: int = 5,
        open_seconds: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._data = f"{base_url.rstrip('/')}/v1/data"
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._failures_to_open = failures_to_open
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0

    @property
    def circuit_open(self) -> bool:
        return self._clock() < self._open_until

    async def decide(self, request: DecisionRequest) -> Decision:
        return Decision.from_result(request, await self._result(DECISION_PATH, request.as_input()))

    async def decide_many(self, requests: Sequence[DecisionRequest]) -> list[Decision]:
        """Alike requests in one round trip (rule `verdicts`), others one by one."""
        common = batch_input(requests)
        if common is None:
            return [await self.decide(request) for request in requests]
        return Decision.from_verdicts(requests, await self._result(VERDICTS_PATH, common))

    async def _result(self, path: str, policy_input: dict[str, Any]) -> Any:
        if self.circuit_open:
            raise PolicyUnavailable("OPA is failing: circuit open")
        try:
            answer = await self._client.post(f"{self._data}/{path}", json={"input": policy_input})
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            self._failures += 1
            if self._failures >= self._failures_to_open:
                self._open_until = self._clock() + self._open_seconds
                self._failures = 0
            raise PolicyUnavailable("OPA did not answer") from error
        self._failures = 0
        if "result" not in document:
            raise PolicyUnavailable(f"OPA has no decision at {path}")
        return document["result"]

    async def close(self) -> None:
        await self._client.aclose()
