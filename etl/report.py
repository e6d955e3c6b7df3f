"""The reconciliation report printed at the end of every load."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from etl.closures import Closures
from etl.guard import MIN_EXISTING, GuardReport
from etl.pipeline import LoadReport

# Closed records listed on the terminal; all of them are in the `.closed.csv` file.
CLOSURES_SHOWN = 50

# Said when a load took the bulk merge (registries.bulk); `python -m bench etl` looks for it,
# so it stays shorter than a terminal line.
BULK_MERGE_LINE = "Bulk merge: history constraints and indexes rebuilt, every row re-validated."


def print_report(report: LoadReport, console: Console) -> None:
    table = Table(title=f"Load #{report.run_id}: {report.target} from {report.source.name}")
    table.add_column("rows", justify="left")
    table.add_column("count", justify="right")
    table.add_row("read", f"{report.read:,}")
    table.add_row("inserted (new records)", f"{report.inserted:,}")
    table.add_row("updated (new version opened)", f"{report.updated:,}")
    table.add_row("unchanged", f"{report.unchanged:,}")
    table.add_row("rejected", f"{report.rejected:,}")
    for reason, count in sorted(report.rejected_by_reason.items()):
        table.add_row(f"  {reason}", f"{count:,}")
    for reason, count in sorted(report.warned_by_reason.items()):
        table.add_row(f"loaded with warning {reason}", f"{count:,}")
    if report.resolved_links:
        table.add_row("earlier family links resolved", f"{report.resolved_links:,}")
    balance = "[green]balanced[/green]" if report.balanced else "[red]NOT BALANCED[/red]"
    table.caption = (
        f"read = inserted + updated + unchanged + rejected: {balance} · "
        f"{report.duration_seconds:.1f}s · {report.read / max(report.duration_seconds, 1e-9):,.0f}"
        f" rows/s · encoding {report.encoding or 'n/a'} · CRS {report.crs or 'n/a'}"
    )
    console.print(table)
    if report.bulk:
        console.print(BULK_MERGE_LINE)
    if report.changed_nothing and report.read:
        console.print("Nothing changed: the registry already holds this data.")
    if report.guard is not None:
        print_guard(report.guard, console)
    if report.closures is not None:
        print_closures(report.closures, console, path=report.closures_path)
    if report.dry_run:
        console.print("[yellow]Dry run:[/yellow] nothing was changed; the figures above are "
                      "what this load would do.")  # fmt: skip
    if report.rejects_path is not None:
        console.print(f"Rejected rows with reasons: {report.rejects_path}")


def print_guard(guard: GuardReport, console: Console) -> None:
    """The change-rate guard's figures: records updated and each changed field, against their
    limits, with before → after samples where a field is over (or close to) its limit."""
    table = Table(title="Changes to existing records (change-rate guard)")
    for column in ("", "changed", "of existing", "limit", ""):
        table.add_column(column, justify="right" if column else "left")
    note = "" if guard.applies else f"(limits apply from {MIN_EXISTING} existing records)"
    table.add_row("records updated", f"{guard.updated:,}", f"{guard.updated_share:.1%}",
                  f"{guard.updated_limit:.0%}", _flag(guard.applies and
                  guard.updated_share > guard.updated_limit) or note)  # fmt: skip
    for figure in sorted(guard.fields, key=lambda f: -f.share):
        if figure.changed:
            table.add_row(f"  {figure.name}", f"{figure.changed:,}", f"{figure.share:.1%}",
                          f"{figure.limit:.0%}", _flag(guard.applies and figure.over))  # fmt: skip
    table.caption = f"{guard.existing:,} of {guard.staged:,} staged records exist already"
    console.print(table)
    for figure in guard.fields:
        for key, before, after in figure.samples:
            console.print(f"  {figure.name} {key}: {before!r} → {after!r}")
    if guard.over and guard.accepted:
        console.print(f"[yellow]Accepted beyond the limits:[/yellow] {', '.join(guard.over)}")


def _flag(over: bool) -> str:
    return "[red]OVER[/red]" if over else ""


def print_closures(closures: Closures, console: Console, *, path: Path | None = None) -> None:
    """A full export's closures: how many of its scope's records, against the limit, and each
    record closed (all of them in `path`)."""
    primary = len(closures.closing.get(closures.primary, ()))
    console.print(
        f"Full export of {closures.scope}: {primary:,} of {closures.in_scope:,} "
        f"{closures.primary} no longer in it ({closures.share:.1%}; limit "
        f"{closures.limit:.1%}{', forced' if closures.forced else ''})"
    )
    if closures.unidentified:
        console.print(f"  {closures.unidentified:,} rejected row(s) name no record")
    for table, keys in closures.closing.items():
        if not keys:
            continue
        console.print(f"  closed {table}: {len(keys):,}")
        for key in keys[:CLOSURES_SHOWN]:
            console.print(f"    {key}")
        if len(keys) > CLOSURES_SHOWN:
            console.print(f"    … and {len(keys) - CLOSURES_SHOWN:,} more")
    for table, count in closures.dependents.items():
        if count:
            console.print(f"  closed with them, {table}: {count:,}")
    if path is not None:
        console.print(f"Every closed record: {path}")
