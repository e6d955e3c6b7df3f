"""What functional tests share to talk to the gateway over HTTP: the whole app in process (its
lifespan run), dev tokens for each kind of caller, and the reading of a problem document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.subjects import STEWARDED_DOMAINS
from lienthong.settings import Env, Settings

PROBLEM = "application/problem+json"


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the gateway app built from `settings`, started and stopped with it."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):
        yield http


# A steward of every registry and the platform's administrator: what a test's stewards hold
# unless the test is about scope (gateway.admin.approvals)
EVERY_SCOPE = ("steward", *(f"steward:{d}" for d in sorted(STEWARDED_DOMAINS)), "admin")


def steward(
    issuer: DevIssuer, name: str = "steward-lan", roles: tuple[str, ...] = EVERY_SCOPE
) -> dict[str, str]:
    """A steward's headers, the steward named by the token's `sub`."""
    token = issuer.mint(agency="steward-console", roles=roles, extra_claims={"sub": name})
    return {"Authorization": f"Bearer {token}"}


def agency(issuer: DevIssuer, client_id: str = "motcua-danang") -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(agency=client_id)}"}


def citizen(issuer: DevIssuer, citizen_id: str) -> dict[str, str]:
    token = issuer.mint(agency="lienthong-citizen", roles=("citizen",), citizen_id=citizen_id)
    return {"Authorization": f"Bearer {token}"}


def problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem document of an admin API refusal, checked for its status and code."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body = dict(answer.json())
    assert body["status"] == status
    assert body["code"] == code
    return body


class Caller:
    """A test's HTTP client on the app, with dev tokens for each kind of caller; test modules
    subclass it with the calls they make."""

    def __init__(self, http: httpx.AsyncClient, issuer: DevIssuer) -> None:
        self.http = http
        self.issuer = issuer

    def steward(
        self, name: str = "steward-lan", roles: tuple[str, ...] = EVERY_SCOPE
    ) -> dict[str, str]:
        return steward(self.issuer, name, roles)

    def agency(self, client_id: str = "motcua-danang") -> dict[str, str]:
        return agency(self.issuer, client_id)

    def citizen(self, citizen_id: str) -> dict[str, str]:
        return citizen(self.issuer, citizen_id)


class Process(Caller):
    """One gateway process of several on one database (its own app, caches and catalogue),
    for tests of what one process's change does to another's next request."""

    def __init__(self, app: FastAPI, http: httpx.AsyncClient, issuer: DevIssuer) -> None:
        super().__init__(http, issuer)
        self.app = app

    def prod(self) -> None:
        """Trusted documents only, for agencies and citizens (as `LIENTHONG_ENV=prod`)."""
        services = self.app.state.services
        services.settings = services.settings.model_copy(update={"env": Env.PROD})

    async def graphql(
        self, body: dict[str, Any], *, agency: str = "motcua-danang", purpose: str | None = None
    ) -> Any:
        headers = self.agency(agency)
        if purpose is not None:
            headers["X-Purpose"] = purpose
        answer = await self.http.post("/graphql", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def manifest(self, agency: str = "motcua-danang") -> dict[str, dict[str, Any]]:
        """The documents manifest `agency` is served, by operation name."""
        answer = await self.http.get("/graphql/documents", headers=self.agency(agency))
        assert answer.status_code == 200, answer.text
        return {o["name"]: o for o in answer.json()["operations"]}

    async def admin(
        self, method: str, path: str, *, steward: str = "steward-lan", **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.steward(steward), **kwargs.pop("headers", {})}
        return await self.http.request(method, "/admin" + path, headers=headers, **kwargs)


@asynccontextmanager
async def processes(settings: Settings, count: int = 2) -> AsyncIterator[list[Process]]:
    """`count` gateway processes on the database of `settings`, started and stopped together."""
    issuer = DevIssuer(settings)
    async with AsyncExitStack() as stack:
        started = []
        for index in range(count):
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url=f"http://p{index}"
                )
            )
            started.append(Process(app, http, issuer))
        yield started
