"""`lienthong policy …`: Rego unit tests and OPA bundles."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from gateway.policy.bundle import build_bundle
from gateway.policy.rego_tests import run_rego_tests
from lienthong.resources import SAMPLE_POLICY

app = typer.Typer(help="Rego policies: unit tests and OPA bundles.")
console = Console(stderr=True)


@app.command("test")
def test_command() -> None:
    """Run policies/*_test.rego with the embedded engine; exit 1 if any test fails."""
    results = run_rego_tests()
    for result in results:
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {result.name}" + (f"  ({result.error})" if result.error else ""))
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")
    if failed or not results:
        raise typer.Exit(code=1)


@app.command("bundle")
def bundle_command(
    out: Path = typer.Argument(..., help="Where to write the .tar.gz bundle."),
    data: Path = typer.Option(SAMPLE_POLICY, help="Agencies, purposes and agreements (JSON)."),
) -> None:
    """Write an OPA bundle: the policies plus the agreements as data, with a .manifest revision."""
    try:
        document = json.loads(data.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        console.print(f"[red]cannot read {data}:[/red] {error}")
        raise typer.Exit(code=2) from error
    content, revision = build_bundle(document)
    out.write_bytes(content)
    console.print(f"wrote {out} (revision {revision}, {len(content):,} bytes)")
