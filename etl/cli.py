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

from etl.crs import CRSInputError
from etl.encodings import UTF8, EncodingError
from etl.pipeline import LoadError, load
from etl.readers import SourceError
from etl.report import print_report
from etl.synth import SynthOptions, synthesize
from etl.targets import TARGETS
from gateway.policy.service import load_policy_document
from lienthong.settings import get_settings
from registries.bulk import BULK_MIN_ROWS, BULK_RATIO
from registries.db import create_engine, session_factory

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


async def _load_policy(document: dict[str, Any]) -> int:
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
) -> None:
    """Validate and load an export; print the reconciliation report; exit 1 if unbalanced."""
    if registry in POLICY_DOCUMENTS:
        try:
            changed = asyncio.run(_load_policy(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError) as error:
            console.print(f"[red]load refused:[/red] {path}: {error}")
            raise typer.Exit(code=2) from error
        except DBAPIError as error:
            console.print(
                f"[red]load refused:[/red] database error ({type(error.orig).__name__}); "
                "is the database migrated? (lienthong db migrate)"
            )
            raise typer.Exit(code=2) from error
        console.print(f"agencies, purposes and agreements loaded: {changed} record(s) changed")
        return
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
            )
        except (LoadError, SourceError, EncodingError, CRSInputError) as error:
            console.print(f"[red]load refused:[/red] {error}")
            raise typer.Exit(code=2) from error
    print_report(report, console)
    if not report.balanced:
        raise typer.Exit(code=1)
