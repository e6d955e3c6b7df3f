"""What the console works with: the admin API's service context (the same services, sessions,
schema and access-log reads: gateway/admin/context.py), the OpenID provider people sign in at,
the session cookies, and the last verification of the access log's chains in this process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from graphql import GraphQLSchema

from gateway.admin.context import Admin
from gateway.audit.verify import VerifyReport
from gateway.console.oidc import Client, OpenIdProvider
from gateway.console.sessions import Cookies, SessionKeyMissing, session_key
from gateway.graph.context import Services
from lienthong.settings import Settings

STEWARD, CITIZEN = "steward", "citizen"
# Where each audience's pages live, and where the provider sends them back to
HOMES = {STEWARD: "/console", CITIZEN: "/me"}


@dataclass(frozen=True)
class Verification:
    report: VerifyReport
    at: datetime
    by: str


class Console:
    def __init__(
        self, *, services: Callable[[], Services], schema: GraphQLSchema, settings: Settings
    ) -> None:
        self.admin = Admin(services=services, schema=schema)
        self.settings = settings
        self.provider = OpenIdProvider(settings)
        try:
            self.cookies: Cookies | None = Cookies(settings, session_key(settings))
        except SessionKeyMissing:
            self.cookies = None
        self.last_verification: Verification | None = None
        self.verifying = asyncio.Lock()  # one verification at a time: it walks the whole log

    @property
    def available(self) -> bool:
        """Whether anyone can sign in: a provider and a session key are configured."""
        return self.provider.configured and self.cookies is not None

    def redirect_uri(self, audience: str) -> str:
        base = (self.settings.console_redirect_base or self.settings.public_url).rstrip("/")
        return f"{base}{HOMES[audience]}/callback"

    def client(self, audience: str) -> Client:
        if audience == CITIZEN:
            return Client(self.settings.console_citizen_client_id, None)
        secret = self.settings.console_client_secret.get_secret_value()
        return Client(self.settings.console_client_id, secret or None)
