"""Test worlds' policy: a document loaded as written even into a store that already holds some.

`load_policy_document` approves nothing once the store holds policy (gateway/policy/service.py):
only the first load of an empty store is in force as the file says. A test that builds its world
in several loads into one database (a shared world, then agencies of its own) stands in for the
stewards here: what the load left awaiting a decision is approved as the document says, by
`actor`. Test code only: nothing in the platform approves without a steward.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.policy.models import Agreement, Proposal, Purpose
from gateway.policy.service import PolicyLoad, load_policy_document
from registries.history import supersede


async def load_as_written(
    *, session: AsyncSession, document: Mapping[str, Any], actor: str = "tests"
) -> PolicyLoad:
    """`load_policy_document`, then its submitted agreements and purpose proposals approved."""
    load = await load_policy_document(session=session, document=document, actor=actor)
    approved = {
        f"{a['agency']}/{a['purpose']}/{a['type']}"
        for a in document.get("agreements", [])
        if a.get("status") == "approved"
    }
    for agreement_id in load.submitted:
        if agreement_id in approved:
            await supersede(session=session, model=Agreement, key={"agreement_id": agreement_id},
                            values={"status": "approved", "approved_by": actor})  # fmt: skip
    for code in load.proposed:
        purpose = next(p for p in document.get("purposes", []) if p["code"] == code)
        values = {
            "title": purpose["title"],
            "procedure": purpose["procedure"],
            "case_bound": bool(purpose.get("case_bound", False)),
        }
        await supersede(session=session, model=Purpose, key={"code": code},
                        values={**values, "changed_by": actor, "approved_by": actor})  # fmt: skip
        await supersede(session=session, model=Proposal, key={"kind": "purpose", "code": code},
                        values={"status": "approved", "approvals": {"platform": actor},
                                "changed_by": actor})  # fmt: skip
    return load
