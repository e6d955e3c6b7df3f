"""Liveness and readiness. Readiness fails when any dependency the gateway needs to answer with
registry data is down: the database, the policy engine, the access-log writer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.ops import ops_allowed

ReadinessCheck = Callable[[], Awaitable[None]]
"""Raises (any exception) when its dependency is not usable; the message is shown to operators."""

CHECK_TIMEOUT_SECONDS = 2.0


async def run_checks(checks: Mapping[str, ReadinessCheck]) -> dict[str, str]:
    async def one(check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return f"timeout after {CHECK_TIMEOUT_SECONDS:.0f}s"
        except Exception as error:  # any failure at all makes the gateway not ready
            return f"{type(error).__name__}: {error}"
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    checks: Mapping[str, ReadinessCheck] = request.app.state.readiness_checks
    results = await run_checks(checks)
    ready = all(result == "ok" for result in results.values())
    body: dict[str, object] = {"status": "ready" if ready else "not ready"}
    if ops_allowed(request, request.app.state.settings):  # which dependency, for operators only
        body["checks"] = results
    return JSONResponse(body, status_code=200 if ready else 503)
