"""`/admin/agencies`: register, read, edit, suspend, reactivate, history; and each agency's
public keys for officer assertions (register, list, retire)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from gateway.admin.agencies import service
from gateway.admin.agencies.models import AgencyChange, AgencyIn, AgencyOut, KeyIn, KeyOut
from gateway.admin.context import Admin
from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.types import ClientIdPath
from gateway.identity.keys import KID
from gateway.identity.principal import Principal

router = APIRouter(prefix="/agencies", tags=["agencies"])
KidPath = Annotated[
    str, Path(pattern=f"^{KID.pattern}$", description="The key's id (`kid`) within the agency.")
]


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
    """Registers an active agency (the platform's administrator only: role `admin`); with
    Keycloak, also creates its client-credentials client."""
    async with admin.transaction() as session:
        agency = await service.register_agency(
            session=session, new=new, decider=steward, provisioning=admin.provisioner
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
    """Changes its name, kind or province (the platform's administrator only)."""
    async with admin.transaction() as session:
        agency = await service.update_agency(
            session=session,
            client_id=client_id,
            change=change,
            decider=steward,
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
    async with admin.transaction() as session:
        agency = await service.set_agency_status(
            session=session,
            client_id=client_id,
            status=status,
            decider=steward,
            if_match=if_match,
            provisioning=admin.provisioner,
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
    """Denies the agency from its very next request (and disables its Keycloak client). The
    platform's administrator only."""
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
    """Lifts a suspension: the platform's administrator, not the one who suspended it (403
    `four_eyes`)."""
    return await _set_status(
        admin=admin,
        steward=steward,
        response=response,
        client_id=client_id,
        status="active",
        if_match=if_match,
    )


@router.get("/{client_id}/keys", responses=responses(404))
async def list_agency_keys(
    *,
    client_id: ClientIdPath,
    admin: AdminDep,
    status: Annotated[Literal["active", "retired"] | None, Query()] = None,
) -> list[KeyOut]:
    """The agency's public keys for officer assertions, oldest first, retired ones included."""
    async with admin.transaction() as session:
        found = await service.list_agency_keys(session=session, client_id=client_id)
    return [KeyOut.of(key) for key in found if status is None or key.status == status]


@router.post("/{client_id}/keys", status_code=201, responses=responses(404, 409))
async def register_agency_key(
    *,
    client_id: ClientIdPath,
    new: KeyIn,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
) -> KeyOut:
    """Registers a public key the agency's software signs officer assertions with; it verifies
    from the very next request. Rotation: register the new key, move the software to it, then
    retire the old one."""
    async with admin.transaction() as session:
        key = await service.register_agency_key(
            session=session, client_id=client_id, new=new, actor=steward.subject
        )
    response.headers["Location"] = f"/admin/agencies/{client_id}/keys/{key.kid}"
    return KeyOut.of(key)


@router.get("/{client_id}/keys/{kid}", responses=responses(404))
async def read_agency_key(*, client_id: ClientIdPath, kid: KidPath, admin: AdminDep) -> KeyOut:
    async with admin.transaction() as session:
        return KeyOut.of(
            await service.get_agency_key(session=session, client_id=client_id, kid=kid)
        )


@router.delete("/{client_id}/keys/{kid}", responses=responses(404))
async def retire_agency_key(
    *, client_id: ClientIdPath, kid: KidPath, admin: AdminDep, steward: StewardDep
) -> KeyOut:
    """Retires the key: assertions signed with it are refused from the very next request.
    Retiring a retired key changes nothing and answers it as it is."""
    async with admin.transaction() as session:
        key = await service.retire_agency_key(
            session=session, client_id=client_id, kid=kid, actor=steward.subject
        )
    return KeyOut.of(key)
