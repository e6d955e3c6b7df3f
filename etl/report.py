"""The reconciliation report printed at the end of every load."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from etl.pipeline import LoadReport

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
    if report.rejects_path is not None:
        console.print(f"Rejected rows with reasons: {report.rejects_path}")
