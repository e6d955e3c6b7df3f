"""What functional tests share to talk to the gateway over HTTP: the whole app in process (its
lifespan run), dev tokens for each kind of caller, and the reading of a problem document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.subjects import STEWARDED_DOMAINS
from lienthong.settings import Settings

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
