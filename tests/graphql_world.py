"""The GraphQL test world shared by the functional tests of `/graphql`: the sample agreements
and a few more (a mask, cross links, a household office), committed registry rows to read
(`build_world`), and an httpx client of one app that mints dev tokens (`Api`, `running`).
Test modules import these from here, never from one another."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.policy.service import load_policy_document
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_POLICY = json.loads((ROOT / "infra" / "sample" / "policy.json").read_text(encoding="utf-8"))
# An extra agreement with a mask: social insurance sees the birth year only.
MASKED_AGREEMENT = {
    "agency": "bhxh-danang",
    "purpose": "BHXH-TT",
    "type": "Resident",
    "fields": ["id", "fullName", "birthDate", "parcels", "representedEnterprises"],
    "legal_basis": "Luật Bảo hiểm xã hội 2024",
    "consent_required": False,
    "via": None,
    "masking": {"birthDate": "year_only"},
    "status": "approved",
    "valid_from": "2025-07-01T00:00:00Z",
    "valid_to": None,
}
# ... and, through the cross links only, the resident's parcels and enterprises.
CROSS_LINKS = [
    {**MASKED_AGREEMENT, "type": "Parcel", "fields": ["id", "area"], "masking": {},
     "via": ["Resident.parcels"]},
    {**MASKED_AGREEMENT, "type": "Enterprise", "fields": ["code", "name"], "masking": {},
     "via": ["Resident.representedEnterprises"]},
]  # fmt: skip
# A district police office that sees households and, through them, only members' names.
HOUSEHOLD_OFFICE_AGREEMENTS = [
    {**MASKED_AGREEMENT, "agency": "congan-hoavang", "purpose": "CT01", "type": "Household",
     "fields": ["id", "members"], "masking": {}},
    {**MASKED_AGREEMENT, "agency": "congan-hoavang", "purpose": "CT01", "type": "Resident",
     "fields": ["fullName"], "masking": {}, "via": ["Household.members"]},
]  # fmt: skip
PARCEL_LON, PARCEL_LAT = 108.2412, 16.0544  # away from the squares other tests draw


def new_household_id() -> str:
    return f"48{uuid.uuid4().int % 10**10:010d}"


@dataclass
class World:
    head: str
    spouse: str
    household: str
    enterprise: str
    parcel: str
    batch: list[str]
    renamed: str


async def build_world(engine: AsyncEngine) -> World:
    async with session_factory(engine).begin() as session:
        await load_policy_document(
            session=session,
            document={
                "agencies": [
                    *SAMPLE_POLICY["agencies"],
                    {"client_id": "bhxh-danang", "name": "BHXH Đà Nẵng", "kind": "insurance"},
                    {"client_id": "congan-hoavang", "name": "Công an Hòa Vang", "kind": "police"},
                ],
                "purposes": SAMPLE_POLICY["purposes"],
                "agreements": [
                    *SAMPLE_POLICY["agreements"],
                    MASKED_AGREEMENT,
                    *CROSS_LINKS,
                    *HOUSEHOLD_OFFICE_AGREEMENTS,
                ],
            },
            actor="tests",
        )
        household_id = new_household_id()
        head = await factories.make_resident(
            session,
            full_name="Trần Văn Bình",
            household_id=household_id,
            relationship_to_head="head",
        )
        household = await factories.make_household(session, head=head, household_id=household_id)
        spouse = await factories.make_resident(
            session,
            full_name="Lê Thị Hoa",
            sex="female",
            birth_date=date(1988, 7, 9),
            household_id=household.household_id,
            relationship_to_head="wife",
            religion="Phật giáo",
        )
        enterprise = await factories.make_enterprise(session)
        await factories.make_representative(session, enterprise=enterprise, resident=head)
        await factories.make_business_line(
            session, enterprise=enterprise, vsic_code="47110", is_main=True
        )
        parcel = await factories.make_parcel(
            session,
            polygon=factories.square(PARCEL_LON, PARCEL_LAT),
            declared_area=Decimal("413.50"),
        )
        await factories.make_right(session, parcel=parcel, holder_id=head.personal_id)
        renamed = factories.new_personal_id()
        await factories.make_resident(
            session, personal_id=renamed, full_name="Hoàng Thị Mai",
            effective=datetime(2020, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        await factories.make_resident(session, personal_id=renamed, full_name="Hoàng Mai Anh")
        batch = []
        for n in range(100):
            member_household = new_household_id()
            member = await factories.make_resident(
                session,
                full_name=f"Phạm Văn {n}",
                household_id=member_household,
                relationship_to_head="head",
            )
            await factories.make_household(session, head=member, household_id=member_household)
            batch.append(member.personal_id)
    return World(
        head=head.personal_id,
        spouse=spouse.personal_id,
        household=household.household_id,
        enterprise=enterprise.enterprise_code,
        parcel=parcel.parcel_id,
        batch=batch,
        renamed=renamed,
    )


class Api:
    """A GraphQL client for one app, minting dev tokens as any agency or citizen."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.issuer = DevIssuer(settings)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw"
        )

    def token(self, agency: str, *, citizen_id: str | None = None) -> str:
        roles = ("citizen",) if citizen_id else ("agency",)
        return self.issuer.mint(agency=agency, roles=roles, citizen_id=citizen_id)

    async def post(
        self,
        query: str | None,
        variables: dict[str, Any] | None = None,
        *,
        agency: str = "motcua-danang",
        purpose: str | None = "CT01",
        citizen_id: str | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.token(agency, citizen_id=citizen_id)}"}
        if purpose:
            sent["X-Purpose"] = purpose
        sent.update(headers or {})
        payload = body if body is not None else {"query": query, "variables": variables or {}}
        return await self.client.post("/graphql", json=payload, headers=sent)

    async def prefill_ct01(self, subject: str, **kw: Any) -> httpx.Response:
        """The trusted document PrefillCT01, by name, as the one-stop software sends it."""
        body = {"operationName": "PrefillCT01", "variables": {"subject": subject}}
        return await self.post(None, body=body, **kw)

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        answer = await self.post(query, variables, **kw)
        assert answer.status_code == 200, answer.text
        return answer.json()


async def running(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        api = Api(app, settings)
        yield api
        await api.client.aclose()


# The plans counter in /metrics: which executor answered each trusted document
PLANS_METRIC = re.compile(
    r'lienthong_graphql_plans_total\{answered_by="(\w+)",operation="\w+"\} (\d+)'
)


async def sample_resident(settings: Settings, full_name: str) -> str:
    """The sample agreements and one resident, committed in `settings`' database: the personal
    ID of the resident, for a module that asks the gateway about one person."""
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=SAMPLE_POLICY, actor="etl")
            made = await factories.make_resident(session, full_name=full_name)
    finally:
        await engine.dispose()
    return made.personal_id
