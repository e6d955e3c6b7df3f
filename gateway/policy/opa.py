"""OPA as a sidecar: the REST Data API (`POST /v1/data/<path>`), with tight timeouts and a
circuit breaker so a dead sidecar costs requests nothing but a fast UNAVAILABLE."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from gateway.policy.engine import DECISION_PATH, Decision, DecisionRequest, PolicyUnavailable


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
        self.url = f"{base_url.rstrip('/')}/v1/data/{DECISION_PATH}"
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
        if self.circuit_open:
            raise PolicyUnavailable("OPA is failing: circuit open")
        try:
            answer = await self._client.post(self.url, json={"input": request.as_input()})
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
            raise PolicyUnavailable("OPA has no decision at lienthong/authz/decision")
        return Decision.from_result(request, document["result"])

    async def close(self) -> None:
        await self._client.aclose()
