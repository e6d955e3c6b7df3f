"""What the steward API works with: the gateway's process-wide services (sessions, token
verifier, agreement cache, form catalogue), the GraphQL schema (to validate field names and
forms), an embedded engine for explanations, and the Keycloak provisioner when there is one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from graphql import GraphQLSchema
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.problems import unavailable
from gateway.audit.writer import AuditUnavailable, Disclosure
from gateway.graph.context import Services
from gateway.identity.principal import Principal
from gateway.identity.provisioning import (
    AgencyProvisioner,
    ProvisioningUnavailable,
    keycloak_provisioner,
)
from gateway.policy.embedded import EmbeddedEngine
from lienthong.settings import AuthMode


class Admin:
    def __init__(self, *, services: Callable[[], Services], schema: GraphQLSchema) -> None:
        self._services = services
        self.schema = schema
        # Explanations come from the embedded engine whatever decides in production: the same
        # Rego, and it can also say which agreements it considered.
        self.explainer = EmbeddedEngine()
        self._provisioner: AgencyProvisioner | None = None

    @property
    def services(self) -> Services:
        return self._services()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction per change, committed before the response leaves: the very next
        GraphQL request (any replica) sees it."""
        async with self.services.sessions.begin() as session:
            yield session

    async def record_read(
        self,
        *,
        steward: Principal,
        read: str,
        filters: dict[str, Any],
        returned: int | None,
        subject: tuple[str, str] | None = None,
    ) -> None:
        """A steward's read of personal data (consents, explanations, the access log): one
        access-log row per request — the filter and how much it returned, never the rows
        themselves — made durable before the answer leaves (503 if it cannot be). A read about
        one resident is logged under that resident, so the citizen sees it."""
        subject_type, subject_id = subject or ("query", "*")
        entry = Disclosure(
            request_id=uuid.uuid4().hex,
            agency=steward.agency,
            subject_type=subject_type,
            subject_id=subject_id,
            officer=steward.subject,
            purpose="oversight",
            operation=read,
            decision={
                "outcome": "oversight",
                "read": read,
                "filter": {k: v for k, v in filters.items() if v is not None},
                "returned": returned,
                "roles": sorted(steward.roles),
            },
        )
        try:
            await self.services.audit.record([entry])
        except AuditUnavailable as error:
            raise unavailable("the access log") from error

    def provisioner(self) -> AgencyProvisioner | None:
        """Keycloak's Admin REST API in `AUTH_MODE=keycloak`; none with the dev issuer."""
        settings = self.services.settings
        if settings.auth_mode is not AuthMode.KEYCLOAK:
            return None
        if self._provisioner is None:
            try:
                self._provisioner = keycloak_provisioner(settings)
            except ProvisioningUnavailable as error:
                raise unavailable("Keycloak provisioning") from error
        return self._provisioner
