"""The OPA bundle built from the policy data in PostgreSQL, rebuilt only when the policy
version counter moves (every agency, purpose or agreement change moves it, by trigger), so an
approval changes the bundle's revision for the next sidecar poll."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.policy.bundle import build_bundle
from gateway.policy.models import PolicyVersion
from gateway.policy.service import policy_document


@dataclass(frozen=True)
class Bundle:
    version: int
    content: bytes
    revision: str

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


class BundleCache:
    def __init__(self) -> None:
        self._bundle: Bundle | None = None

    async def current(self, *, session: AsyncSession) -> Bundle:
        version = (await session.execute(select(PolicyVersion.version))).scalar_one()
        if self._bundle is None or self._bundle.version != version:
            content, revision = build_bundle(await policy_document(session=session))
            self._bundle = Bundle(version, content, revision)
        return self._bundle
