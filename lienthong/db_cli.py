"""`lienthong db …`: the embedded cluster and migrations."""

from __future__ import annotations

import time

import typer
from rich.console import Console

from lienthong import migrate
from lienthong.cluster import ClusterError, EmbeddedCluster
from lienthong.settings import get_settings

app = typer.Typer(help="Embedded PostgreSQL + PostGIS cluster and schema migrations.")
console = Console(stderr=True)


def _cluster() -> EmbeddedCluster:
    settings = get_settings()
    if not settings.uses_embedded_database:
        console.print(
            "[yellow]LIENTHONG_DATABASE_URL is set: the embedded cluster is not used; "
            "manage that server yourself.[/yellow]"
        )
        raise typer.Exit(code=2)
    return EmbeddedCluster(settings)


@app.command()
def up() -> None:
    """Create (first time) and start the cluster on 127.0.0.1; does nothing if already running."""
    started = time.perf_counter()
    try:
        status = _cluster().up()
    except ClusterError as error:
        console.print(f"[red]db up failed:[/red] {error}")
        raise typer.Exit(code=1) from error
    console.print(
        f"[green]PostgreSQL {status.server_version} running[/green] on 127.0.0.1:{status.port} "
        f"(pid {status.pid}, data {status.data_dir}) in {time.perf_counter() - started:.2f}s"
    )


@app.command()
def down() -> None:
    """Stop the cluster cleanly (fast shutdown: sessions are ended, nothing committed is lost)."""
    try:
        stopped = _cluster().down()
    except ClusterError as error:
        console.print(f"[red]db down failed:[/red] {error}")
        raise typer.Exit(code=1) from error
    console.print("[green]stopped[/green]" if stopped else "not running")


@app.command()
def status() -> None:
    """Say whether the cluster exists and runs; exit code 0 only when it runs."""
    state = _cluster().status()
    if not state.initialized:
        console.print("not initialized (run `lienthong db up`)")
        raise typer.Exit(code=3)
    if not state.running:
        console.print(f"initialized at {state.data_dir}, not running")
        raise typer.Exit(code=3)
    console.print(
        f"running: PostgreSQL {state.server_version} on 127.0.0.1:{state.port}, pid {state.pid}, "
        f"data {state.data_dir}"
    )


@app.command("migrate")
def migrate_command(
    revision: str = typer.Argument("head", help="Target revision (default: head)."),
) -> None:
    """Apply alembic migrations to LIENTHONG_DATABASE_URL (default: the embedded cluster)."""
    settings = get_settings()
    migrate.upgrade(settings, revision)
    console.print(f"[green]migrated to {revision}[/green]")
