"""`lienthong dev token`: a token from the embedded dev issuer (refused when ENV=prod)."""

from __future__ import annotations

import typer
from rich.console import Console

from gateway.identity.dev_issuer import DEFAULT_TTL_SECONDS, DevIssuer, DevIssuerRefused
from lienthong.settings import get_settings
from registries.identifiers import IdentifierError, validate_personal_id

app = typer.Typer(help="Development helpers (refused when LIENTHONG_ENV=prod).")
console = Console(stderr=True)


@app.command()
def token(
    agency: str = typer.Option(..., "--agency", help="Client id, e.g. motcua-danang."),
    role: list[str] = typer.Option(None, "--role", help="Realm role (repeatable); default agency."),
    citizen: str | None = typer.Option(None, "--citizen", help="Citizen's 12-digit personal ID."),
    ttl: int = typer.Option(DEFAULT_TTL_SECONDS, "--ttl", min=1, max=86_400, help="Seconds."),
) -> None:
    """Print a signed, Keycloak-shaped access token for CLIENT_ID."""
    roles = role or (["citizen"] if citizen else ["agency"])
    if citizen is not None:
        try:
            citizen = validate_personal_id(citizen)
        except IdentifierError as error:
            console.print(f"[red]--citizen:[/red] {error}")
            raise typer.Exit(code=2) from error
    try:
        issuer = DevIssuer(get_settings())
    except DevIssuerRefused as error:
        console.print(f"[red]refused:[/red] {error}")
        raise typer.Exit(code=2) from error
    print(issuer.mint(agency=agency, roles=roles, citizen_id=citizen, ttl_seconds=ttl))
