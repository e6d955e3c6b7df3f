"""`lienthong etl …`: synthetic sources and validated, idempotent loads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.exc import DBAPIError

from etl.closures import ClosuresRefused
from etl.crs import CRSInputError
from etl.encodings import UTF8, EncodingError
from etl.guard import ChangesRefused, Limits
from etl.pipeline import FullExport, LoadError, load
from etl.readers import SourceError
from etl.report import print_closures, print_guard, print_report
from etl.rollback import rollback
from etl.synth import SynthOptions, synthesize
from etl.targets import TARGETS
from gateway.policy.service import PolicyLoad, load_policy_document
from lienthong.settings import get_settings
from registries.bulk import BULK_MIN_ROWS, BULK_RATIO
from registries.db import create_engine, session_factory
from registries.rollback import RollbackRefused

app = typer.Typer(help="Synthetic agency exports and validated, idempotent registry loads.")
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@app.command()
def synth(
    out: Path = typer.Option(
        ..., "--out", help="Folder for residents.csv, enterprises.csv, parcels.geojson."
    ),
    residents: int = typer.Option(1000, min=0),
    enterprises: int = typer.Option(100, min=0),
    parcels: int = typer.Option(100, min=0),
    seed: int = typer.Option(1, help="Same seed, same files."),
    defects: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of rows spoiled with a defect."
    ),
    encoding: str = typer.Option(UTF8, help="utf-8, windows-1258, tcvn3, vni or viscii."),
    parcel_crs: str | None = typer.Option(
        None, help="Write parcels in this CRS, e.g. VN2000:da-nang."
    ),
) -> None:
    """Write deterministic, realistic synthetic exports."""
    options = SynthOptions(
        residents=residents,
        enterprises=enterprises,
        parcels=parcels,
        out=out,
        seed=seed,
        defects=defects,
        encoding=encoding.lower(),
        parcel_crs=parcel_crs,
    )
    with _progress() as progress:
        task = progress.add_task("residents", total=residents)
        report = synthesize(options, progress=lambda n: progress.advance(task, n))
    console.print(
        f"wrote {report.residents:,} residents, {report.enterprises:,} enterprises, "
        f"{report.parcels:,} parcels to {out}"
    )
    if report.defects:
        console.print(f"defects injected: {dict(sorted(report.defects.items()))}")


POLICY_DOCUMENTS = ("agreements",)


async def _load_policy(document: dict[str, Any]) -> PolicyLoad:
    engine = create_engine(get_settings(), pool_size=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await load_policy_document(session=session, document=document, actor="etl")
    finally:
        await engine.dispose()


@app.command("load")
def load_command(
    registry: str = typer.Argument(
        ..., help=f"One of: {', '.join(sorted(TARGETS))}, or agreements (policy JSON)."
    ),
    path: Path = typer.Argument(..., help="CSV, JSON lines, GeoJSON, Shapefile or GeoPackage."),
    crs: str | None = typer.Option(None, help="Source CRS, e.g. EPSG:3405 or VN2000:da-nang."),
    encoding: str | None = typer.Option(None, help="Override the detected text encoding."),
    bulk: bool | None = typer.Option(
        None,
        "--bulk/--no-bulk",
        help="Force the bulk merge on or off (residents, enterprises). Default: bulk when the "
        f"load brings at least {BULK_MIN_ROWS:,} rows and {BULK_RATIO} times what the registry "
        "holds. Bulk drops the "
        "registry's history exclusion constraints and secondary indexes, merges, and re-creates "
        "and re-validates them in the same transaction; readers of that registry wait for the "
        "merge meanwhile.",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Read, validate, measure and merge, then roll back: the report says what the load "
        "would do; the registries are left as they were.",
    ),
    accept_changes: bool = typer.Option(
        False,
        "--accept-changes",
        help="Merge even when the load changes existing records beyond the change-rate limits "
        "(damaged text is rejected all the same).",
    ),
    max_updated_share: float | None = typer.Option(
        None,
        min=0.0,
        max=1.0,
        help="Share of existing records a load may update (default: "
        "the registry's, e.g. 0.10 for residents).",
    ),
    max_field_share: list[str] = typer.Option(
        [],
        help="FIELD=SHARE: how many of a field's existing values a load may change, e.g. "
        "full_name=0.05 (repeatable; default: the registry's).",
    ),
    full_export: bool = typer.Option(
        False,
        "--full-export",
        help="The export holds every record of its source (--province or --nationwide): "
        "records of that scope it lacks are closed, each reported. Stops (exit 4) beyond "
        "LIENTHONG_FULL_EXPORT_MAX_CLOSE_SHARE of the scope's records unless --force.",
    ),
    province: int | None = typer.Option(
        None,
        "--province",
        help="With --full-export: the 2025 province code the export covers (e.g. 48); a "
        "record belongs to it by its address (a resident's permanent address, an enterprise's "
        "head office, a parcel's commune).",
    ),
    nationwide: bool = typer.Option(
        False,
        "--nationwide",
        help="With --full-export: the export covers the whole registry (an agency's).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="With --full-export: close beyond the limit, and despite rejected rows that name "
        "no record, knowingly.",
    ),
) -> None:
    """Validate and load an export; print the reconciliation report. Exit 1 if unbalanced, 2 if
    the load could not run, 3 if the change-rate guard stopped it, 4 if a full export would
    close more than its limit (nothing merged)."""
    if registry in POLICY_DOCUMENTS:
        if full_export or province is not None or nationwide or force:
            console.print(f"[red]load refused:[/red] {registry} are not a registry export: "
                          "--full-export and its options are for registries")  # fmt: skip
            raise typer.Exit(code=2)
        try:
            loaded = asyncio.run(_load_policy(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError) as error:
            console.print(f"[red]load refused:[/red] {path}: {error}")
            raise typer.Exit(code=2) from error
        except DBAPIError as error:
            console.print(
                f"[red]load refused:[/red] database error ({type(error.orig).__name__}); "
                "is the database migrated? (lienthong db migrate)"
            )
            raise typer.Exit(code=2) from error
        _print_policy_load(loaded)
        return
    _field_shares(max_field_share)  # a bad option is refused before anything is read
    scope = _full_export(
        full_export=full_export, province=province, nationwide=nationwide, force=force
    )
    with _progress() as progress:
        task = progress.add_task(f"loading {path.name}", total=None)
        try:
            report = load(
                settings=get_settings(),
                target=registry,
                path=path,
                encoding=encoding,
                crs=crs,
                progress=lambda n: progress.advance(task, n),
                on_total=lambda total: progress.update(task, total=total),
                bulk=bulk,
                dry_run=dry_run,
                accept_changes=accept_changes,
                limits=Limits.of(
                    registry,
                    updated=max_updated_share,
                    fields=_field_shares(max_field_share),
                ),
                full_export=scope,
            )
        except ChangesRefused as refused:
            print_guard(refused.report, console)
            console.print(
                f"[red]load stopped:[/red] {refused}. Nothing was merged. Check the samples; "
                "if the changes are right, load again with --accept-changes (or see them first "
                "with --dry-run)."
            )
            raise typer.Exit(code=3) from refused
        except ClosuresRefused as refused:
            print_closures(refused.closures, console, path=_closed_file(path))
            console.print(
                f"[red]load stopped:[/red] {refused}. Nothing was merged. Check the export "
                "holds all of its source; if these records are gone, load again with --force "
                "(or see them first with --dry-run)."
            )
            raise typer.Exit(code=4) from refused
        except (LoadError, SourceError, EncodingError, CRSInputError) as error:
            console.print(f"[red]load refused:[/red] {error}")
            raise typer.Exit(code=2) from error
    print_report(report, console)
    if not report.balanced:
        raise typer.Exit(code=1)


def _closed_file(path: Path) -> Path | None:
    found = Path(f"{path}.closed.csv")
    return found if found.exists() else None


def _full_export(
    *, full_export: bool, province: int | None, nationwide: bool, force: bool
) -> FullExport | None:
    """The full export's scope, or None; a contradictory set of options is refused (exit 2)."""
    if not full_export:
        if province is not None or nationwide or force:
            console.print("[red]load refused:[/red] --province, --nationwide and --force "
                          "are for a full export: add --full-export")  # fmt: skip
            raise typer.Exit(code=2)
        return None
    if (province is None) == (not nationwide):
        console.print("[red]load refused:[/red] a full export names what it covers: "
                      "--province CODE (2025 code) or --nationwide, one of them")  # fmt: skip
        raise typer.Exit(code=2)
    return FullExport(province=province, force=force)


def _print_policy_load(load: PolicyLoad) -> None:
    """What the load did; what it leaves for stewards to decide; the bootstrap, loudly."""
    if load.warning:
        console.print(f"[bold red]WARNING:[/bold red] {load.warning}")
    console.print(f"agencies, purposes and agreements loaded: {load.changed} record(s) changed")
    if load.submitted:
        console.print(
            f"{len(load.submitted)} agreement(s) submitted, awaiting approval by a steward of "
            f"their registry (POST /admin/agreements/<id>/approve): {', '.join(load.submitted)}"
        )
    if load.proposed:
        console.print(
            f"{len(load.proposed)} purpose change(s) proposed, awaiting approval by the "
            f"platform's administrator (POST /admin/purposes/<code>/approve): "
            f"{', '.join(load.proposed)}"
        )


def _field_shares(options: list[str]) -> dict[str, float]:
    shares = {}
    for option in options:
        name, _, value = option.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not name or not 0.0 <= share <= 1.0:
            console.print(f"[red]bad --max-field-share {option!r}:[/red] write FIELD=SHARE, "
                          "a share between 0 and 1, e.g. full_name=0.05")  # fmt: skip
            raise typer.Exit(code=2)
        shares[name] = share
    return shares


@app.command("rollback")
def rollback_command(
    run_id: int = typer.Argument(..., help="The load's run id (the report's 'Load #N')."),
) -> None:
    """Undo one load as new history: the versions it opened are closed and those it closed are
    opened again, now; refused if a record it touched has changed since."""
    try:
        done = rollback(settings=get_settings(), run_id=run_id)
    except (RollbackRefused, LoadError) as error:
        console.print(f"[red]rollback refused:[/red] {error}")
        raise typer.Exit(code=2) from error
    console.print(
        f"Run {done.rolled_back} ({done.target}) rolled back as run {done.run_id}: "
        f"{done.closed:,} version(s) closed, {done.reopened:,} reopened."
    )
