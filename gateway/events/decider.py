"""The worker's payload decisions: gateway/events/payloads.py `decide_payloads` with this
process's policy engine, agreement cache and reference data, reading through one database
session per batch of decisions (the primary's: a replica may not have the event's version yet).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.events.fanout import Decide
from gateway.events.payloads import Decided, decide_payloads
from gateway.graph.context import RequestDatabase
from gateway.graph.reference import ReferenceCache
from gateway.metrics import GatewayMetrics
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import PolicyEngine
from gateway.policy.models import PolicyVersion, Subscription
from gateway.policy.opa import OpaEngine
from gateway.policy.service import AgreementCache
from lienthong.settings import Settings
from registries.events import ChangeEvent


class PayloadDecider:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        engine: PolicyEngine,
        agreements: AgreementCache | None = None,
        reference: ReferenceCache | None = None,
    ) -> None:
        self.sessions = sessions
        self.engine = engine
        self.agreements = agreements or AgreementCache()
        self.reference = reference or ReferenceCache()
        self.metrics = GatewayMetrics()  # decisions counted apart from the worker's metrics
        self._loaded = reference is not None

    @classmethod
    def of(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> PayloadDecider:
        """The engine the gateway would use: OPA when LIENTHONG_OPA_URL is set, else embedded."""
        engine: PolicyEngine = OpaEngine(settings.opa_url) if settings.opa_url else EmbeddedEngine()
        return cls(sessions=sessions, engine=engine)

    async def start(self) -> None:
        if not self._loaded:
            async with self.sessions() as session:
                await self.reference.load(session=session)
            self._loaded = True

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Decide]:
        """Decisions through one session, closed when the block ends, all at the policy version
        in force when it begins (read once: a batch's decisions are made within moments)."""
        await self.start()
        database = RequestDatabase(self.sessions)
        async with database.session() as session:
            version = (await session.execute(select(PolicyVersion.version))).scalar_one()

        async def decide(
            events: Sequence[ChangeEvent], subscription: Subscription
        ) -> list[Decided | None]:
            return await decide_payloads(
                events=events,
                subscription=subscription,
                engine=self.engine,
                agreements=self.agreements,
                database=database,
                reference=self.reference,
                metrics=self.metrics,
                policy_version=version,
            )

        try:
            yield decide
        finally:
            await database.close()
