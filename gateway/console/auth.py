"""Signing in and out, for stewards (/console) and citizens (/me) alike: the authorization-code
flow with PKCE (gateway/console/oidc.py) between `…/sign-in/start` and `…/callback`, a session
cookie at the end of it (gateway/console/sessions.py)."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gateway.console.context import HOMES
from gateway.console.messages import translator
from gateway.console.oidc import SignInFailed, pkce_pair
from gateway.console.sessions import ConsoleSession, LoginInFlight
from gateway.console.web import (
    ConsoleDep,
    FormDep,
    error_page,
    language,
    redirect,
    render,
)

Next = Annotated[str, Query(max_length=2000)]
Param = Annotated[str | None, Query(max_length=4000)]


def safe_next(audience: str, wanted: str) -> str:
    """Where to go once signed in: a path of this audience's pages only (never another site)."""
    home = HOMES[audience]
    if wanted.startswith(f"{home}/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return f"{home}/"


def auth_router(audience: str) -> APIRouter:
    router = APIRouter()

    @router.get("/sign-in")
    async def sign_in(
        *, request: Request, console: ConsoleDep, next: Next = "", out: bool = False
    ) -> Response:
        status = 200 if console.available else 503
        return render(request, "sign_in.html", status=status, audience=audience,
                      available=console.available, next=safe_next(audience, next),
                      signed_out=out)  # fmt: skip

    @router.get("/sign-in/start")
    async def start(*, request: Request, console: ConsoleDep, next: Next = "") -> Response:
        if not console.available or console.cookies is None:
            return await sign_in(request=request, console=console, next=next)
        verifier, challenge = pkce_pair()
        flight = LoginInFlight(audience=audience, state=secrets.token_urlsafe(24),
                               nonce=secrets.token_urlsafe(24), verifier=verifier,
                               next=safe_next(audience, next))  # fmt: skip
        target = console.provider.authorization_url(
            console.client(audience), redirect_uri=console.redirect_uri(audience),
            state=flight.state, nonce=flight.nonce, challenge=challenge,
        )  # fmt: skip
        response = redirect(target)
        console.cookies.begin_login(response, flight)
        return response

    @router.get("/callback")
    async def callback(
        *,
        request: Request,
        console: ConsoleDep,
        code: Param = None,
        state: Param = None,
        error: Param = None,
        error_description: Param = None,
    ) -> Response:
        t = translator(language(request))
        flight = console.cookies.login(request) if console.cookies else None
        if console.cookies is None or flight is None or flight.audience != audience:
            return error_page(request, status=400, title=t("sign_in.failed"),
                              detail=t("sign_in.expired"), code="LOGIN_EXPIRED")  # fmt: skip
        if state is None or not secrets.compare_digest(state.encode(), flight.state.encode()):
            return error_page(request, status=400, title=t("sign_in.failed"),
                              detail=t("sign_in.expired"), code="STATE")  # fmt: skip
        if error is not None or code is None:
            said = f"{error or 'no code'}: {error_description or ''}".strip(": ")
            return error_page(request, status=401, title=t("sign_in.failed"), detail=said,
                              code="UNAUTHENTICATED")  # fmt: skip
        try:
            signed_in = await console.provider.exchange(
                console.client(audience), code=code, redirect_uri=console.redirect_uri(audience),
                verifier=flight.verifier, nonce=flight.nonce,
            )  # fmt: skip
        except SignInFailed as failed:
            return error_page(request, status=401, title=t("sign_in.failed"), detail=str(failed),
                              code="UNAUTHENTICATED")  # fmt: skip
        principal = signed_in.principal
        session = ConsoleSession(
            subject=principal.subject, agency=principal.agency,
            roles=tuple(sorted(principal.roles)), citizen_id=principal.citizen_id,
            name=signed_in.name, csrf=secrets.token_urlsafe(32),
            expires_at=int(time.time()) + console.settings.console_session_seconds,
        )  # fmt: skip
        response = redirect(flight.next)
        console.cookies.end_login(response)
        console.cookies.start(response, session)
        return response

    @router.post("/sign-out")
    async def sign_out(*, console: ConsoleDep, _form: FormDep) -> Response:
        response = redirect(f"{HOMES[audience]}/sign-in?out=1")
        if console.cookies is not None:
            console.cookies.end(response)
        return response

    return router
