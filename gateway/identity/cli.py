"""`lienthong dev token` and `lienthong dev assertion`: a token from the embedded dev issuer, and
an officer assertion signed with the agency's development key (both refused when ENV=prod).

`dev assertion` registers the agency's development public key in the database the first time
(as actor "dev"), and makes a new key when a steward has retired the old one, so the assertion
it prints verifies at the gateway from the next request on."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from gateway.identity import keys
from gateway.identity.dev_issuer import (
    CLIENT_ID,
    DEFAULT_ASSERTION_TTL_SECONDS,
    DEFAULT_TTL_SECONDS,
    DevAgencyKeys,
    DevIssuer,
    DevIssuerRefused,
)
from gateway.identity.officers import Officer, OfficerError, read_officer
from gateway.identity.principal import STEWARD_OF, Stewardship
from gateway.policy.models import AgencyKey
from gateway.subjects import STEWARDED_DOMAINS
from lienthong.settings import Settings, get_settings
from registries.db import create_engine, session_factory
from registries.identifiers import IdentifierError, validate_personal_id

app = typer.Typer(help="Development helpers (refused when LIENTHONG_ENV=prod).")
console = Console(stderr=True)
DEV_ACTOR = "dev"


def _refuse(option: str, message: str) -> typer.Exit:
    console.print(f"[red]{option}:[/red] {message}")
    return typer.Exit(code=2)


def _officer(officer: str, name: str, unit: str) -> Officer:
    """The officer as the gateway will read it: the same checks, so a bad value fails here."""
    given = {"--officer": officer, "name": name, "unit": unit}
    return read_officer(given, id_claim="--officer", what="command line", verified="header")


def _roles(given: list[str]) -> list[str]:
    """Roles as given, repeated or comma-separated (`--role steward,steward:land`), in order,
    once each. A steward role naming no registry or a malformed province would grant nothing
    at the gateway (gateway.identity.principal): refused here rather than minted."""
    roles = list(dict.fromkeys(r.strip() for item in given for r in item.split(",") if r.strip()))
    for role in roles:
        if role.startswith(STEWARD_OF) and not Stewardship.of([role]).domains:
            raise _refuse(
                "--role",
                f"{role!r} grants nothing: steward:<registry> or steward:<registry>:<province> "
                f"(registries: {', '.join(sorted(STEWARDED_DOMAINS))}; a 2-digit province)",
            )
    return roles


@app.command()
def token(
    agency: str = typer.Option(..., "--agency", help="Client id, e.g. motcua-danang."),
    role: list[str] = typer.Option(
        None,
        "--role",
        "--roles",
        help="Realm role, repeatable or comma-separated: agency, citizen, steward, admin, "
        "steward:<registry>[:<province>] (e.g. --role steward,steward:land:48); default agency.",
    ),
    subject: str | None = typer.Option(
        None,
        "--sub",
        help="The token's subject: who a steward is (what four-eyes compares); default the "
        "client's service account.",
    ),
    citizen: str | None = typer.Option(None, "--citizen", help="Citizen's 12-digit personal ID."),
    ttl: int = typer.Option(DEFAULT_TTL_SECONDS, "--ttl", min=1, max=86_400, help="Seconds."),
    officer: str | None = typer.Option(
        None, "--officer", help="Officer id: a token-exchange token acting for this officer."
    ),
    officer_name: str | None = typer.Option(None, "--officer-name", help="The officer's name."),
    unit: str | None = typer.Option(None, "--unit", help="The officer's unit."),
) -> None:
    """Print a signed, Keycloak-shaped access token for CLIENT_ID (with --officer: the token
    Keycloak's RFC 8693 token exchange gives the agency acting for that officer)."""
    roles = _roles(role or []) or (["citizen"] if citizen else ["agency"])
    if citizen is not None:
        try:
            citizen = validate_personal_id(citizen)
        except IdentifierError as error:
            raise _refuse("--citizen", str(error)) from error
    if subject is not None and (not subject.strip() or officer is not None):
        raise _refuse(
            "--sub", "a non-empty name, and not with --officer (its token names the officer)"
        )
    named = None
    if officer is not None or officer_name is not None or unit is not None:
        if officer is None or officer_name is None or unit is None:
            raise _refuse("--officer", "give --officer, --officer-name and --unit together")
        try:
            named = _officer(officer, officer_name, unit)
        except OfficerError as error:
            raise _refuse("--officer", str(error)) from error
    try:
        issuer = DevIssuer(get_settings())
    except DevIssuerRefused as error:
        raise _refuse("refused", str(error)) from error
    if named is None:
        extra = {"sub": subject} if subject else None
        print(issuer.mint(agency=agency, roles=roles, citizen_id=citizen, ttl_seconds=ttl,
                          extra_claims=extra))  # fmt: skip
        return
    print(
        issuer.mint_officer(
            agency=agency,
            officer=named.id,
            name=str(named.name),
            unit=str(named.unit),
            roles=roles,
            ttl_seconds=ttl,
        )
    )


@app.command()
def assertion(
    agency: str = typer.Option(..., "--agency", help="Client id, e.g. motcua-danang."),
    officer: str = typer.Option(..., "--officer", help="Officer id (the assertion's sub)."),
    name: str = typer.Option(..., "--name", help="The officer's name."),
    unit: str = typer.Option(..., "--unit", help="The officer's unit."),
    ttl: int = typer.Option(
        DEFAULT_ASSERTION_TTL_SECONDS, "--ttl", min=1, help="Seconds (at most the gateway's max)."
    ),
) -> None:
    """Print an officer assertion (for X-Officer-Assertion) signed with CLIENT_ID's dev key,
    registering the key's public half for the agency if it is not registered yet."""
    settings = get_settings()
    if not CLIENT_ID.fullmatch(agency):
        raise _refuse("--agency", "a client id: lowercase letters, digits and -")
    if ttl > settings.officer_assertion_max_seconds:
        raise _refuse(
            "--ttl", f"at most {settings.officer_assertion_max_seconds} s (the gateway's maximum)"
        )
    try:
        named = _officer(officer, name, unit)
    except OfficerError as error:
        raise _refuse("--officer", str(error)) from error
    try:
        agency_keys = DevAgencyKeys.from_settings(settings)
    except DevIssuerRefused as error:
        raise _refuse("refused", str(error)) from error
    try:
        asyncio.run(ensure_registered(settings, agency_keys, agency))
    except keys.AgencyKeyError as error:
        raise _refuse("--agency", str(error)) from error
    except (OSError, DBAPIError) as error:
        raise _refuse(
            "database", f"unreachable ({type(error).__name__}): lienthong db up?"
        ) from error
    print(
        agency_keys.assertion(
            agency=agency,
            officer=named.id,
            name=str(named.name),
            unit=str(named.unit),
            ttl=ttl,
            audience=settings.officer_audience,
        )
    )


async def ensure_registered(settings: Settings, agency_keys: DevAgencyKeys, agency: str) -> str:
    """The kid of the agency's dev key, registered and active in the database (a new key is made
    when the registered one was retired: a retired kid is never reused)."""
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            kid = agency_keys.kid(agency)
            found = await session.execute(
                select(AgencyKey.status).where(AgencyKey.agency == agency, AgencyKey.kid == kid)
            )
            status = found.scalar_one_or_none()
            if status == keys.ACTIVE:
                return kid
            if status == keys.RETIRED:
                agency_keys.renew(agency)
                console.print(f"the dev key {kid} of {agency} was retired: made a new one")
            registered = await keys.register_key(
                session=session,
                agency=agency,
                jwk=agency_keys.public_jwk(agency),
                actor=DEV_ACTOR,
            )
            console.print(f"registered the dev key {registered.kid} for {agency}")
            return registered.kid
    finally:
        await engine.dispose()
