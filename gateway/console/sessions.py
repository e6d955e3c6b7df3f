"""The console's sessions: signed cookies, nothing stored on the server.

A session cookie holds who signed in (the verified token's `sub`, client, roles, `citizen_id`,
display name), when the sign-in ends and the session's anti-forgery (CSRF) token; it is signed
and time-stamped with the console's session key (itsdangerous), so every replica reads it and
nobody can forge or extend it. HttpOnly, SameSite=Lax (the identity provider's redirect back is a
top-level navigation from another site, which Strict would strip), Secure and `__Host-`-prefixed
in prod. Signing out deletes it; a copy taken before stops working when it expires
(`console_session_seconds`).

A second, short-lived cookie carries one sign-in in flight (state, nonce, PKCE verifier, where
to go next) from the authorization request to the callback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from gateway.identity.principal import Principal
from lienthong.settings import Env, Settings

LOGIN_SECONDS = 600  # an authorization request not completed within this is dropped
KEY_FILE = "console-session.key"


@dataclass(frozen=True)
class ConsoleSession:
    subject: str  # `sub`: what four-eyes compares and `changed_by` records
    agency: str  # `azp`: the sign-in client
    roles: tuple[str, ...]
    citizen_id: str | None
    name: str
    csrf: str
    expires_at: int

    def principal(self) -> Principal:
        """The caller as the services see one (the same shape a verified token gives)."""
        return Principal(
            agency=self.agency,
            subject=self.subject,
            roles=frozenset(self.roles),
            token_id=None,
            expires_at=self.expires_at,
            citizen_id=self.citizen_id,
        )


@dataclass(frozen=True)
class LoginInFlight:
    audience: str  # "steward" or "citizen"
    state: str
    nonce: str
    verifier: str  # PKCE code verifier (RFC 7636)
    next: str


class SessionKeyMissing(RuntimeError):  # noqa: N818 - what is wrong, said plainly
    """Prod without LIENTHONG_CONSOLE_SESSION_SECRET: nobody can be signed in."""


def session_key(settings: Settings) -> str:
    """The configured secret; in dev without one, a random key kept under `home` (mode 0600),
    shared by every worker of this checkout."""
    configured = settings.console_session_secret.get_secret_value()
    if configured:
        return configured
    if settings.env is Env.PROD:
        raise SessionKeyMissing("LIENTHONG_CONSOLE_SESSION_SECRET is not set")
    return _dev_key(settings.home / KEY_FILE)


def _dev_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):  # of two workers, the first key wins
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


class Cookies:
    """Reads and writes the console's two cookies."""

    def __init__(self, settings: Settings, key: str) -> None:
        self.secure = settings.env is Env.PROD
        prefix = "__Host-" if self.secure else ""
        self.session_name = f"{prefix}lt-console"
        self.login_name = f"{prefix}lt-console-login"
        self.session_seconds = settings.console_session_seconds
        self._sessions = URLSafeTimedSerializer(key, salt="lienthong.console.session")
        self._logins = URLSafeTimedSerializer(key, salt="lienthong.console.login")

    def read(self, request: Request) -> ConsoleSession | None:
        found = self._load(self._sessions, request.cookies.get(self.session_name),
                           self.session_seconds)  # fmt: skip
        if found is None:
            return None
        try:
            session = ConsoleSession(**{**found, "roles": tuple(found["roles"])})
        except (TypeError, KeyError):
            return None
        return session if session.expires_at > time.time() else None

    def start(self, response: Response, session: ConsoleSession) -> None:
        self._set(response, self.session_name, self._sessions.dumps(asdict(session)),
                  self.session_seconds)  # fmt: skip

    def end(self, response: Response) -> None:
        response.delete_cookie(self.session_name, path="/", secure=self.secure,
                               httponly=True, samesite="lax")  # fmt: skip

    def login(self, request: Request) -> LoginInFlight | None:
        found = self._load(self._logins, request.cookies.get(self.login_name), LOGIN_SECONDS)
        try:
            return LoginInFlight(**found) if found is not None else None
        except TypeError:
            return None

    def begin_login(self, response: Response, flight: LoginInFlight) -> None:
        self._set(response, self.login_name, self._logins.dumps(asdict(flight)), LOGIN_SECONDS)

    def end_login(self, response: Response) -> None:
        response.delete_cookie(self.login_name, path="/", secure=self.secure,
                               httponly=True, samesite="lax")  # fmt: skip

    def _set(self, response: Response, name: str, value: str, seconds: int) -> None:
        response.set_cookie(name, value, max_age=seconds, path="/", secure=self.secure,
                            httponly=True, samesite="lax")  # fmt: skip

    @staticmethod
    def _load(
        serializer: URLSafeTimedSerializer, value: str | None, seconds: int
    ) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            found = serializer.loads(value, max_age=seconds)
        except BadSignature:  # also SignatureExpired
            return None
        return found if isinstance(found, dict) else None


def csrf_matches(session: ConsoleSession | None, sent: object) -> bool:
    """Whether a form carries its session's anti-forgery token (compared in constant time)."""
    return (
        session is not None
        and isinstance(sent, str)
        and secrets.compare_digest(session.csrf.encode(), sent.encode())
    )
