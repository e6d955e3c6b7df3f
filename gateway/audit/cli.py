"""`lienthong audit …`: the access log's integrity."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console

from gateway.audit.verify import verify
from lienthong.settings import get_settings

app = typer.Typer(help="Access-log integrity and exports.")
console = Console(stderr=True)


@app.command("verify")
def verify_command(
    since: datetime | None = typer.Option(None, help="Verify entries from this time on only."),
) -> None:
    """Recompute the hash chains; exit 1 and name the first broken row if any was altered."""
    report = verify(get_settings().libpq_url, since=since)
    if report.intact:
        console.print(f"[green]intact[/green]: {report.rows:,} entries in {report.chains:,} chains")
        return
    broken = report.first_break
    assert broken is not None  # noqa: S101 - intact is defined as first_break is None
    console.print(
        f"[red]BROKEN[/red] chain {broken.chain_key} at seq {broken.seq} "
        f"(entry {broken.entry_id}): {broken.reason}"
    )
    raise typer.Exit(code=1)
