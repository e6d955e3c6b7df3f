"""The console's HTTP layer: pages rendered with Jinja2 (autoescaped), their security headers,
the language, who is signed in, the anti-forgery check of every form, and refusals as pages.

Every page carries a strict Content-Security-Policy: everything from the gateway itself, no
inline script or style, no plugin, no framing, forms posted only to the gateway. The headers every
answer carries (gateway/http_headers.py: no-store, nosniff, no-referrer) are added by the app's
middleware; the policy here replaces its `frame-ancestors`-only one on console pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from gateway.admin.http import steward_only
from gateway.admin.problems import TITLES, Problem
from gateway.console.context import CITIZEN, HOMES, STEWARD, Console
from gateway.console.messages import DEFAULT_LANGUAGE, LANGUAGES, status_label, translator
from gateway.console.sessions import ConsoleSession, csrf_matches
from gateway.identity.principal import Principal
from registries.history import VIETNAM_TIME

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
LANGUAGE_COOKIE = "lt-lang"
_UNSET = object()  # render() without `session`: the request's own
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))  # fmt: skip
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}

templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,  # a missing variable is a bug, not an empty string
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return value.astimezone(VIETNAM_TIME).strftime("%Y-%m-%d %H:%M") if value else ""


def _day(value: datetime | None) -> str:
    return value.astimezone(VIETNAM_TIME).strftime("%Y-%m-%d") if value else ""


templates.filters["when"] = _when
templates.filters["day"] = _day


class SignInRequired(Exception):  # noqa: N818 - raised to send the browser to sign in
    def __init__(self, audience: str) -> None:
        super().__init__(audience)
        self.audience = audience


class CsrfRefused(Exception):  # noqa: N818 - a form without its session's token
    pass


class RoleRefused(Exception):  # noqa: N818 - signed in, but not as who the page is for
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(console_of)]


def language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(LANGUAGE_COOKIE)
    return kept if kept in LANGUAGES else DEFAULT_LANGUAGE


def session_of(request: Request) -> ConsoleSession | None:
    console = console_of(request)
    return console.cookies.read(request) if console.cookies is not None else None


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page: the template with the frame's context (translator, language, who is signed in,
    the anti-forgery token, links), and the console's headers."""
    lang = language(request)
    given = context.pop("session", _UNSET)
    session = session_of(request) if given is _UNSET else given
    base = str(request.scope.get("root_path", "")).rstrip("/")
    other = "en" if lang == "vi" else "vi"
    context.setdefault("audience", getattr(request.app.state, "audience", STEWARD))
    # the other language of this page; a page answering a form shows where the form was
    get = request.method == "GET"
    path = context.pop("language_path", None) or (request.url.path if get else f"{base}/")
    query = {k: v for k, v in request.query_params.items() if k != "lang"} if get else {}
    page = templates.get_template(template).render(
        t=translator(lang),
        lang=lang,
        status_label=lambda status: status_label(lang, status),
        base=base,
        session=session,
        csrf=session.csrf if session else "",
        other_language=other,
        other_language_url=f"{path}?{urlencode({**query, 'lang': other})}",
        **context,
    )
    response = HTMLResponse(page, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, path="/",
                            httponly=True, samesite="lax")  # fmt: skip
    return response


def redirect(url: str) -> RedirectResponse:
    """After a form: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


def _signed_in(request: Request, audience: str) -> ConsoleSession:
    session = session_of(request)
    if session is None:
        raise SignInRequired(audience)
    return session


def steward_session(request: Request) -> ConsoleSession:
    """Steward pages: signed in, and a steward as the admin API defines one."""
    session = _signed_in(request, STEWARD)
    try:
        steward_only(session.principal())
    except Problem as refused:
        raise RoleRefused("error.steward_only") from refused
    return session


def citizen_session(request: Request) -> ConsoleSession:
    """Citizens' pages: signed in with a citizen's personal ID (a citizen sees their own only)."""
    session = _signed_in(request, CITIZEN)
    if not session.principal().is_citizen:
        raise RoleRefused("error.citizen_only")
    return session


StewardSession = Annotated[ConsoleSession, Depends(steward_session)]
CitizenSession = Annotated[ConsoleSession, Depends(citizen_session)]


def steward(session: StewardSession) -> Principal:
    return session.principal()


StewardDep = Annotated[Principal, Depends(steward)]


async def checked_form(request: Request) -> FormData:
    """A posted form, once it carries the signed-in session's anti-forgery token."""
    form = await request.form()
    if not csrf_matches(session_of(request), form.get("csrf")):
        raise CsrfRefused
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def error_page(
    request: Request, *, status: int, title: str, detail: str, code: str = ""
) -> Response:
    return render(request, "error.html", status=status, title=title, detail=detail, code=code)


def install_handlers(app: FastAPI, audience: str) -> None:
    """Refusals of the console as pages (the admin API answers problem documents instead)."""

    async def on_sign_in(request: Request, error: Exception) -> Response:
        assert isinstance(error, SignInRequired)  # noqa: S101 - registered for this type
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        home = HOMES[error.audience]
        return redirect(f"{home}/sign-in?next={quote(wanted, safe='')}")

    async def on_csrf(request: Request, _error: Exception) -> Response:
        t = translator(language(request))
        return error_page(request, status=403, title=t("error.forbidden"),
                          detail=t("error.csrf"), code="CSRF")  # fmt: skip

    async def on_role(request: Request, error: Exception) -> Response:
        assert isinstance(error, RoleRefused)  # noqa: S101
        t = translator(language(request))
        return error_page(request, status=403, title=t("error.forbidden"),
                          detail=t(error.message), code="FORBIDDEN")  # fmt: skip

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, Problem)  # noqa: S101
        return error_page(request, status=error.status, title=TITLES.get(error.status, "Error"),
                          detail=error.detail, code=error.code.value)  # fmt: skip

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # noqa: S101
        t = translator(language(request))
        title = t("error.not_found") if error.status_code == 404 else t("error.title")
        return error_page(request, status=error.status_code, title=title, detail=str(error.detail))

    async def on_invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)  # noqa: S101
        t = translator(language(request))
        said = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}"
            for item in error.errors()
        )
        return error_page(request, status=422, title=t("error.invalid"), detail=said,
                          code="BAD_USER_INPUT")  # fmt: skip

    async def on_error(request: Request, _error: Exception) -> Response:
        """Anything else (a bug, a dependency down): a page with the console's headers, never
        a bare 500; the error is still raised to the server's log by Starlette."""
        t = translator(language(request))
        return error_page(request, status=500, title=t("error.title"), detail="", code="INTERNAL")

    app.add_exception_handler(SignInRequired, on_sign_in)
    app.add_exception_handler(Exception, on_error)
    app.add_exception_handler(CsrfRefused, on_csrf)
    app.add_exception_handler(RoleRefused, on_role)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.state.audience = audience
