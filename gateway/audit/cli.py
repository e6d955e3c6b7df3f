"""`lienthong audit …`: the access log's integrity."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from gateway.audit.checkpoints import (
    CheckpointError,
    database_name,
    latest_checkpoint,
    open_sink,
    sink_specs,
    take_checkpoint,
    verification_keys,
)
from gateway.audit.verify import VerifyReport, Witnessed, verify
from gateway.signing.answers import AnswerRejected, verify_answer
from lienthong.settings import Settings, get_settings

app = typer.Typer(help="Access-log integrity and exports.")
console = Console(stderr=True)

EXIT_BROKEN = 1  # the log does not match itself or a witness: tampered
EXIT_UNCHECKED = 2  # a witness could not be used (refused, missing): the log is not vouched for


@app.command("checkpoint")
def checkpoint_command(
    every: float | None = typer.Option(
        None, "--every", min=1.0, help="Take one every SECONDS, until stopped."
    ),
) -> None:
    """Sign every lane's head and write the checkpoint to the configured sinks."""
    settings = get_settings()
    while True:
        started = time.monotonic()
        try:
            written = take_checkpoint(settings)
        except Exception as error:
            # A periodic run outlives one unreachable sink or database restart; a single run
            # (a CronJob's) fails so that its scheduler sees it.
            console.print(f"[red]checkpoint failed[/red]: {type(error).__name__}: {error}")
            if every is None:
                raise typer.Exit(code=1) from error
        else:
            console.print(
                f"checkpoint {written.name}: {written.lanes:,} lanes, "
                f"written to {', '.join(written.sinks)}"
            )
            if every is None:
                return
        time.sleep(max(0.0, every - (time.monotonic() - started)))


@app.command("verify")
def verify_command(
    since: datetime | None = typer.Option(None, help="Verify entries from this time on only."),
    checkpoints: list[str] | None = typer.Option(
        None,
        "--checkpoints",
        help="A directory or s3://bucket/prefix to read the latest checkpoint from "
        "(repeatable); default: the configured sinks.",
    ),
    no_checkpoints: bool = typer.Option(
        False, "--no-checkpoints", help="Walk the chains only, without any checkpoint."
    ),
    answers: list[Path] | None = typer.Option(
        None,
        "--answers",
        exists=True,
        dir_okay=False,
        help="A signed answer (compact JWS) whose quoted heads the log must still hold "
        "(repeatable).",
    ),
    answer_jwks: Path | None = typer.Option(
        None, "--answer-jwks", exists=True, dir_okay=False, help="The answer signer's JWKS."
    ),
) -> None:
    """Recompute the hash chains and hold them to the latest signed checkpoints and to the heads
    quoted in signed answers; exit 1 naming what was altered, 2 if a witness was refused."""
    settings = get_settings()
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is UTC, as the log's are
    witnessed: list[Witnessed] = []
    unchecked: list[str] = []
    if not no_checkpoints:
        _checkpoint_heads(
            settings, checkpoints or sink_specs(settings), since, witnessed, unchecked
        )
    if answers:
        if answer_jwks is None:
            console.print("[red]--answers needs --answer-jwks[/red] (the answer signer's JWKS)")
            raise typer.Exit(code=EXIT_UNCHECKED)
        _answer_heads(answers, answer_jwks, since, witnessed, unchecked)
    report = verify(settings.libpq_url, since=since, witnessed=witnessed)
    _print(report, unchecked)


def _checkpoint_heads(
    settings: Settings,
    specs: list[str],
    since: datetime | None,
    witnessed: list[Witnessed],
    unchecked: list[str],
) -> None:
    database = database_name(settings.libpq_url)
    keys: dict[str, Any] = {}

    def jwks() -> dict[str, Any]:
        if not keys:
            keys.update(verification_keys(settings))
        return keys

    for spec in specs:
        try:
            latest = latest_checkpoint(open_sink(spec, database, settings), jwks, database)
        except CheckpointError as error:
            unchecked.append(f"checkpoints at {spec}: {error}")
            continue
        for name, reason in latest.refused:
            unchecked.append(f"checkpoint {latest.source}/{name}: {reason}")
        checkpoint = latest.checkpoint
        if checkpoint is None:
            if settings.audit_checkpoint_required:
                unchecked.append(f"no checkpoint that verifies in {latest.source}")
            else:
                console.print(f"no checkpoint yet in {latest.source}")
            continue
        source = f"checkpoint {checkpoint.name}"
        lanes = [
            lane
            for lane in checkpoint.lanes
            if since is None or lane.time is None or lane.time >= since
        ]
        witnessed.extend(Witnessed(h.chain_key, h.seq, h.hash, source) for h in lanes)
        console.print(
            f"{source} ({latest.source}, taken {checkpoint.taken_at:%Y-%m-%d %H:%M:%S}Z): "
            f"{len(lanes):,} lanes"
        )


def _answer_heads(
    answers: list[Path],
    jwks_path: Path,
    since: datetime | None,
    witnessed: list[Witnessed],
    unchecked: list[str],
) -> None:
    jwks = json.loads(jwks_path.read_text(encoding="utf-8"))
    for path in answers:
        try:
            answer = verify_answer(path.read_text(encoding="utf-8"), jwks)
        except AnswerRejected as error:
            unchecked.append(f"signed answer {path}: {error}")
            continue
        if since is not None and answer.issued_at < since:
            continue
        source = f"signed answer {path.name}"
        # the entries it quotes are pinned as firmly as the heads: both must still be there
        for position in [*answer.heads, *answer.entries]:
            witnessed.append(Witnessed(position.chain_key, position.seq, position.hash, source))


def _print(report: VerifyReport, unchecked: list[str]) -> None:
    for reason in unchecked:
        console.print(f"[red]REFUSED[/red] {reason}")
    if report.intact:
        summary = f"[green]intact[/green]: {report.rows:,} entries in {report.chains:,} chains"
        if report.witnessed:
            summary += f"; {report.witnessed:,} witnessed heads hold"
        console.print(summary)
        if unchecked:
            raise typer.Exit(code=EXIT_UNCHECKED)
        return
    broken = report.first_break
    if broken is not None:
        console.print(
            f"[red]BROKEN[/red] chain {broken.chain_key} at seq {broken.seq} "
            f"(entry {broken.entry_id}): {broken.reason}"
        )
    for lane in report.lane_breaks:
        console.print(
            f"[red]BROKEN[/red] chain {lane.chain_key} at seq {lane.seq} "
            f"(entry {lane.entry_id}): {lane.reason}"
        )
    raise typer.Exit(code=EXIT_BROKEN)
