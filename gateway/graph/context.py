"""What a GraphQL request carries: the caller, the declared purpose, the request's database
session, its DataLoaders and its guard; and the process-wide services they are built from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.fastapi import BaseContext

from gateway.audit.writer import AccessLogWriter, Recorded
from gateway.dossiers.service import DossierCache
from gateway.graph.catalogue import Catalogues
from gateway.graph.forms import FormCatalogue
from gateway.graph.guard import Guard
from gateway.graph.loaders import Loaders
from gateway.graph.reference import ReferenceCache
from gateway.identity.officers import Officer, OfficerAssertions
from gateway.identity.principal import Principal
from gateway.identity.verifier import TokenVerifier
from gateway.metrics import GatewayMetrics
from gateway.policy.engine import PolicyEngine
from gateway.policy.service import AgreementCache
from gateway.quota.leases import QuotaLeases, QuotaScope, RateLeases
from gateway.ratelimit import LocalRates
from gateway.trusted_documents import TrustedDocuments
from lienthong.settings import Settings
from registries.routing import ReadReplicas, ReadWork, RequestReads, release

T = TypeVar("T")


class RequestDatabase:
    """One session per request, used by one loader at a time: DataLoaders of the same tick run
    concurrently, and an AsyncSession must not. `session()` is the primary's (policy data,
    consents, the access log); `read()` runs a registry read on a replica when one is in
    rotation (registries.routing says what may lag and why)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], replicas: ReadReplicas | None = None
    ) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._reads = RequestReads(replicas, self.session) if replicas is not None else None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._session is None:
                self._session = self._sessions()
            yield self._session

    async def read(self, work: ReadWork[T]) -> T:
        """A registry read, called as `work(session=…)`."""
        if self._reads is not None:
            return await self._reads.run(work)
        async with self.session() as session:
            return await work(session=session)

    async def close(self) -> None:
        if self._reads is not None:
            await self._reads.close()
        session, self._session = self._session, None
        if session is not None:
            await release(session)  # a database stopping under the request must not make a 500


@dataclass
class Services:
    """Built once per process (in the app's lifespan) and shared by every request."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier
    policy: PolicyEngine
    agreements: AgreementCache
    audit: AccessLogWriter
    reference: ReferenceCache
    catalogues: Catalogues  # forms and trusted documents, reloaded when a form is saved
    rates: RateLeases
    fallback_rates: LocalRates  # while the shared buckets cannot be reached
    quotas: QuotaLeases
    officers: OfficerAssertions
    dossiers: DossierCache
    metrics: GatewayMetrics
    replicas: ReadReplicas | None = None  # None: registry reads on the primary too
    reads: asyncpg.Pool | None = None  # compiled plans' connections (None: plans are off)

    @property
    def forms(self) -> FormCatalogue:
        return self.catalogues.current.forms

    @property
    def trusted(self) -> TrustedDocuments:
        return self.catalogues.current.trusted


class GatewayContext(BaseContext):
    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.database = RequestDatabase(services.sessions, services.replicas)
        self._loaders: Loaders | None = None
        self.principal: Principal | None = None
        self.purpose: str | None = None
        self.officer: Officer | None = None
        self.dossier: str | None = None  # the dossier number the request serves
        self.quota_scopes: set[QuotaScope] = set()  # what it was admitted against
        self.needs_purpose = False  # asks registry data
        self.request_errors_4xx = False  # application/graphql-response+json: 4xx, no data
        self.request_id: str = ""
        self.correlation_id: str | None = None  # the client's X-Request-Id, kept beside ours
        self.operation: str | None = None
        self.recorded: list[Recorded] = []  # what the access log wrote (a signed answer quotes it)
        self._guard: Guard | None = None

    @property
    def loaders(self) -> Loaders:
        """Made on first use: a compiled plan reads its subjects without them."""
        if self._loaders is None:
            self._loaders = Loaders(self.database)
        return self._loaders

    def admit(self, principal: Principal, purpose: str | None) -> None:
        self.principal = principal
        self.purpose = purpose
        self._guard = Guard(
            principal=principal,
            purpose=purpose,
            engine=self.services.policy,
            agreements=self.services.agreements,
            database=self.database,
            metrics=self.services.metrics,
        )

    @property
    def guard(self) -> Guard:
        if self._guard is None:  # the router admits every request before executing it
            raise RuntimeError("request executed before authentication")
        return self._guard

    @property
    def caller(self) -> Principal:
        if self.principal is None:
            raise RuntimeError("request executed before authentication")
        return self.principal
