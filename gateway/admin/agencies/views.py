"""`/admin/agencies`: register, read, edit, suspend, reactivate, history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from gateway.admin.agencies import service
from gateway.admin.agencies.models import AgencyChange, AgencyIn, AgencyOut
from gateway.admin.context import Admin
from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.types import ClientIdPath
from gateway.identity.principal import Principal

router = APIRouter(prefix="/agencies", tags=["agencies"])


@router.get("", responses=responses())
async def list_agencies(
    *,
    admin: AdminDep,
    status: Annotated[Literal["active", "suspended"] | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AgencyOut]:
    async with admin.transaction() as session:
        items, after = await service.list_agencies(
            session=session, status=status, limit=limit, cursor=cursor
        )
    return Page(items=[AgencyOut.of(a) for a in items], next_cursor=after)


@router.post("", status_code=201, responses=responses(409, 503))
async def register_agency(
    *, new: AgencyIn, admin: AdminDep, steward: StewardDep, response: Response
) -> AgencyOut:
    """Registers an active agency; with Keycloak, also creates its client-credentials client."""
    provisioner = admin.provisioner()
    async with admin.transaction() as session:
        agency = await service.register_agency(
            session=session, new=new, actor=steward.subject, provisioner=provisioner
        )
    response.headers["Location"] = f"/admin/agencies/{agency.client_id}"
    tag(response, agency.version_id)
    return AgencyOut.of(agency)


@router.get("/{client_id}", responses=responses(404))
async def read_agency(*, client_id: ClientIdPath, admin: AdminDep, response: Response) -> AgencyOut:
    async with admin.transaction() as session:
        agency = await service.get_agency(session=session, client_id=client_id)
    tag(response, agency.version_id)
    return AgencyOut.of(agency)


@router.get("/{client_id}/versions", responses=responses(404))
async def agency_versions(*, client_id: ClientIdPath, admin: AdminDep) -> list[AgencyOut]:
    async with admin.transaction() as session:
        return [
            AgencyOut.of(a)
            for a in await service.agency_versions(session=session, client_id=client_id)
        ]


@router.patch("/{client_id}", responses=responses(404, 412, 428))
async def update_agency(
    *,
    client_id: ClientIdPath,
    change: AgencyChange,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> AgencyOut:
    async with admin.transaction() as session:
        agency = await service.update_agency(
            session=session,
            client_id=client_id,
            change=change,
            actor=steward.subject,
            if_match=if_match,
        )
    tag(response, agency.version_id)
    return AgencyOut.of(agency)


async def _set_status(
    *,
    admin: Admin,
    steward: Principal,
    response: Response,
    client_id: str,
    status: str,
    if_match: str | None,
) -> AgencyOut:
    provisioner = admin.provisioner()
    async with admin.transaction() as session:
        agency = await service.set_agency_status(
            session=session,
            client_id=client_id,
            status=status,
            actor=steward.subject,
            if_match=if_match,
            provisioner=provisioner,
        )
    tag(response, agency.version_id)
    return AgencyOut.of(agency)


@router.post("/{client_id}/suspend", responses=responses(404, 409, 412, 428, 503))
async def suspend_agency(
    *,
    client_id: ClientIdPath,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> AgencyOut:
    """Denies the agency from its very next request (and disables its Keycloak client)."""
    return await _set_status(
        admin=admin,
        steward=steward,
        response=response,
        client_id=client_id,
        status="suspended",
        if_match=if_match,
    )


@router.post("/{client_id}/reactivate", responses=responses(404, 409, 412, 428, 503))
async def reactivate_agency(
    *,
    client_id: ClientIdPath,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> AgencyOut:
    return await _set_status(
        admin=admin,
        steward=steward,
        response=response,
        client_id=client_id,
        status="active",
        if_match=if_match,
    )
