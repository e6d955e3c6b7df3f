"""Registering, editing, suspending and reactivating agencies.

These are the platform's decisions: only its administrator (role `admin`, scope PLATFORM of
gateway.admin.approvals) makes them, and a reactivation needs a second pair of eyes: the
administrator who suspended an agency may not reactivate it (403 four_eyes); its history shows
who suspended it and who reactivated it.

A suspension takes effect on the very next decision: the agencies trigger moves the policy
version, and the agreement cache then finds the agency suspended and hands it no agreement.
In `AUTH_MODE=keycloak` the agency's Keycloak client is created on registration and disabled
while suspended, so it cannot even get new tokens.

An agency's public keys (for officer assertions) are gateway.identity.keys' to check and keep;
here its refusals become the API's problems (422 naming the JWK member, 404, 409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import approvals
from gateway.admin.agencies.models import AgencyChange, AgencyIn, KeyIn
from gateway.admin.approvals import PLATFORM
from gateway.admin.history import current, for_change, keyset_page, versions
from gateway.admin.problems import bad_input, conflict, forbidden, not_found, unavailable
from gateway.identity import keys
from gateway.identity.principal import Principal
from gateway.identity.provisioning import AgencyProvisioner
from gateway.policy.models import Agency, AgencyKey
from gateway.policy.service import agency_status
from registries.history import is_current, supersede

WHAT = "agency"


async def list_agencies(
    *, session: AsyncSession, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Agency], str | None]:
    query = select(Agency).where(is_current(Agency))
    if status is not None:
        query = query.where(Agency.status == status)
    return await keyset_page(
        session=session, query=query, key=Agency.client_id, limit=limit, cursor=cursor
    )


async def get_agency(*, session: AsyncSession, client_id: str) -> Agency:
    return await current(session=session, model=Agency, key={"client_id": client_id}, what=WHAT)


async def agency_versions(*, session: AsyncSession, client_id: str) -> list[Agency]:
    return await versions(session=session, model=Agency, key={"client_id": client_id}, what=WHAT)


# Keycloak's Admin REST API when identities are Keycloak's (None with the dev issuer); built only
# once the decider may act, so that its being unavailable never answers for a refusal
Provisioning = Callable[[], AgencyProvisioner | None]


def _administrator(decider: Principal, action: str) -> None:
    """Agencies are the platform's: 403 `scope` for whoever does not administer it."""
    if not approvals.holds(decider, PLATFORM, None):
        raise forbidden(
            f"to {action} an agency needs the platform's administrator (role admin); "
            "your roles do not hold it",
            "scope",
        )


def suspended_by(history: Iterable[Agency]) -> str | None:
    """Who suspended the agency, as it stands suspended: the author of the first version of
    its latest suspension (edits made while suspended do not count)."""
    suspender = None
    for version in sorted(history, key=lambda v: v.valid_from, reverse=True):
        if version.status != "suspended":
            break
        suspender = version.changed_by
    return suspender


async def _keycloak(action: str, call: Awaitable[object]) -> None:
    """Run a provisioning call; if Keycloak fails, the transaction is rolled back (fail closed)."""
    try:
        await call
    except Exception as error:  # python-keycloak's errors, httpx's, an unknown client
        raise unavailable(f"Keycloak ({action})") from error


async def register_agency(
    *,
    session: AsyncSession,
    new: AgencyIn,
    decider: Principal,
    provisioning: Provisioning,
) -> Agency:
    _administrator(decider, "register")
    provisioner = provisioning()  # after the decider's scope: a refusal is never a 503
    existing = await agency_status(session=session, agency=new.client_id)
    if existing is not None:
        raise conflict(f"agency {new.client_id!r} is already registered ({existing})")
    agency, _ = await supersede(
        session=session,
        model=Agency,
        key={"client_id": new.client_id},
        values={
            "name": new.name,
            "kind": new.kind,
            "province": new.province,
            "status": "active",
            "changed_by": decider.subject,
        },
    )
    if provisioner is not None:  # after the row, so a duplicate never reaches Keycloak
        await _keycloak(
            "creating the agency's client",
            provisioner.create_agency_client(client_id=new.client_id, name=new.name),
        )
    return agency


async def update_agency(
    *,
    session: AsyncSession,
    client_id: str,
    change: AgencyChange,
    decider: Principal,
    if_match: str | None,
) -> Agency:
    _administrator(decider, "edit")
    await for_change(
        session=session, model=Agency, key={"client_id": client_id}, what=WHAT, if_match=if_match
    )
    values = change.model_dump(exclude_unset=True)
    for name in ("name", "kind"):
        if name in values and values[name] is None:
            raise bad_input(name, "cannot be null")
    agency, _ = await supersede(
        session=session,
        model=Agency,
        key={"client_id": client_id},
        values={**values, "changed_by": decider.subject},
    )
    return agency


async def set_agency_status(
    *,
    session: AsyncSession,
    client_id: str,
    status: str,
    decider: Principal,
    if_match: str | None,
    provisioning: Provisioning,
) -> Agency:
    reactivating = status == "active"
    _administrator(decider, "reactivate" if reactivating else "suspend")
    provisioner = provisioning()
    agency = await for_change(
        session=session, model=Agency, key={"client_id": client_id}, what=WHAT, if_match=if_match
    )
    if agency.status == status:
        raise conflict(f"agency {client_id!r} is already {status}")
    if reactivating:
        suspender = suspended_by(await agency_versions(session=session, client_id=client_id))
        # Only ever refuses the suspender (the scope is checked above): the message is theirs
        approvals.approve(decider, authors=[suspender] if suspender else [],
                          needs=frozenset({PLATFORM}), approvals={},
                          what=f"reactivation of {client_id}, which they suspended")  # fmt: skip
    agency, _ = await supersede(
        session=session,
        model=Agency,
        key={"client_id": client_id},
        values={"status": status, "changed_by": decider.subject},
    )
    if provisioner is not None:
        await _keycloak(
            "enabling or disabling the agency's client",
            provisioner.set_agency_enabled(client_id=client_id, enabled=status == "active"),
        )
    return agency


@contextmanager
def _key_problems() -> Iterator[None]:
    """The key service's refusals as the API answers them."""
    try:
        yield
    except keys.KeyInputError as error:
        argument = f"body.jwk.{error.member}" if error.member else "body.jwk"
        raise bad_input(argument, str(error)) from error
    except keys.KeyNotFoundError as error:
        raise not_found(error.what, error.key) from error
    except keys.KeyConflictError as error:
        raise conflict(str(error)) from error


async def list_agency_keys(*, session: AsyncSession, client_id: str) -> list[AgencyKey]:
    with _key_problems():
        return await keys.list_keys(session=session, agency=client_id)


async def get_agency_key(*, session: AsyncSession, client_id: str, kid: str) -> AgencyKey:
    with _key_problems():
        return await keys.get_key(session=session, agency=client_id, kid=kid)


async def register_agency_key(
    *, session: AsyncSession, client_id: str, new: KeyIn, actor: str
) -> AgencyKey:
    with _key_problems():
        return await keys.register_key(session=session, agency=client_id, jwk=new.jwk, actor=actor)


async def retire_agency_key(
    *, session: AsyncSession, client_id: str, kid: str, actor: str
) -> AgencyKey:
    with _key_problems():
        return await keys.retire_key(session=session, agency=client_id, kid=kid, actor=actor)
