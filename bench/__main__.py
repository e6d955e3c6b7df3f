"""`python -m bench [NAME [OPTIONS]]`: run the named benchmark with its options; with no name, run
them all (`make bench`) with their defaults.

Each benchmark is a module `bench/bench_<name>.py` exposing `main(argv: list[str]) -> None`
(argv as `--option=value` strings) that prints its own figures; its docstring says what it
measures and is its `--help`. The options are declared here, with the modules' defaults
(tests/unit/bench/test_cli.py holds them equal), so `--help` prints help and runs nothing and a
misspelt option is refused instead of silently ignored. A benchmark module is imported only when
it runs.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Annotated

import typer

FOLDER = Path(__file__).resolve().parent
# Every benchmark, in the order `python -m bench` runs them all.
NAMES = ("audit", "console", "etl", "events", "http", "partitions", "policy", "replica")

app = typer.Typer(
    help=(
        "Benchmarks that print their figures against a floor or a peer measured in the same run "
        "and write .lienthong/bench/NAME.json. With no command, every benchmark runs with its "
        "defaults. `python -m bench NAME --help`: what NAME measures, and its options."
    ),
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


def _docstring(name: str) -> str:
    """The module's docstring, read without importing it (imports start nothing, but are slow)."""
    source = (FOLDER / f"bench_{name}.py").read_text(encoding="utf-8")
    return ast.get_docstring(ast.parse(source)) or ""


def _help(name: str) -> str:
    # Click rewraps paragraphs; "\b" keeps a paragraph's line breaks (lists, usage lines).
    return "\n\n".join(f"\b\n{paragraph}" for paragraph in _docstring(name).split("\n\n"))


def _summary(name: str) -> str:
    """The docstring's opening words, before its usage line: the command's line in the list."""
    opening = " ".join(_docstring(name).split("`python -m bench", 1)[0].split())
    return opening.rstrip(": ")


def _argv(**options: int | str | bool | None) -> list[str]:
    """Options as the modules read them: `--name=value`, a flag alone when set, None left out."""
    argv = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv.append(f"{flag}={value}")
    return argv


def run(name: str, argv: list[str]) -> None:
    print(f"== bench {name}", flush=True)
    importlib.import_module(f"bench.bench_{name}").main(argv)


@app.callback()
def everything(context: typer.Context) -> None:
    if context.invoked_subcommand is None:
        for name in NAMES:
            run(name, [])


Rounds = Annotated[int, typer.Option(min=1, help="Rounds; each side's quietest counts.")]


@app.command(help=_help("audit"), short_help=_summary("audit"))
def audit(
    producers: Annotated[int, typer.Option(min=1, help="Concurrent producers.")] = 64,
    entries: Annotated[int, typer.Option(min=1, help="Entries per producer.")] = 200,
    rounds: Rounds = 3,
) -> None:
    run("audit", _argv(producers=producers, entries=entries, rounds=rounds))


@app.command(help=_help("console"), short_help=_summary("console"))
def console(  # keyword-only: Typer passes options by name
    *,
    residents: Annotated[
        int, typer.Option(min=1, help="Synthetic residents loaded through the ETL.")
    ] = 1_000_000,
    log_rows: Annotated[
        int, typer.Option(min=1, help="Access-log entries written by the gateway's writer.")
    ] = 1_000_000,
    requests: Annotated[int, typer.Option(min=1, help="Requests measured per page.")] = 100,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the database (its URL printed).")
    ] = False,
) -> None:
    run("console", _argv(residents=residents, log_rows=log_rows, requests=requests, keep=keep))


@app.command(help=_help("etl"), short_help=_summary("etl"))
def etl(
    *,
    residents: Annotated[int, typer.Option(min=1, help="Synthetic residents loaded.")] = 1_000_000,
    against: Annotated[
        str | None,
        typer.Option(help="A checkout of an earlier commit: compare its load with this one's."),
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="With --against: loads of each.")] = 2,
) -> None:
    run("etl", _argv(residents=residents, against=against, rounds=rounds if against else None))


@app.command(help=_help("events"), short_help=_summary("events"))
def events(  # keyword-only: Typer passes options by name
    *,
    residents: Annotated[
        int, typer.Option(min=1, help="Synthetic residents loaded, then all changed.")
    ] = 100_000,
    rounds: Rounds = 3,
    rate: Annotated[int, typer.Option(min=1, help="Webhooks: events committed a second.")] = 1000,
    seconds: Annotated[int, typer.Option(min=1, help="Webhooks: seconds at each rate.")] = 30,
    workers: Annotated[int, typer.Option(min=1, help="Webhooks: `lienthong worker`s.")] = 2,
    only: Annotated[str | None, typer.Option(help="Parts to run, e.g. outbox or webhooks.")] = None,
) -> None:
    run(
        "events",
        _argv(
            residents=residents,
            rounds=rounds,
            rate=rate,
            seconds=seconds,
            workers=workers,
            only=only,
        ),
    )


@app.command(help=_help("http"), short_help=_summary("http"))
def http(  # keyword-only: Typer passes options by name
    *,
    residents: Annotated[int, typer.Option(min=1, help="The main registry's size.")] = 1_000_000,
    small: Annotated[int, typer.Option(min=0, help="The smaller registry (0: none).")] = 100_000,
    large: Annotated[int, typer.Option(min=0, help="The larger registry (0: none).")] = 0,
    rounds: Rounds = 5,
    seconds: Annotated[int, typer.Option(min=1, help="Seconds of each wrk run.")] = 10,
    connections: Annotated[int, typer.Option(min=1, help="wrk connections.")] = 32,
    batch_connections: Annotated[
        int, typer.Option(min=1, help="wrk connections of the batch contender.")
    ] = 4,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Server workers.", show_default="the CPU count")
    ] = None,
    only: Annotated[
        str | None, typer.Option(help="Contenders to run, e.g. prefill,prefill-dossier.")
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the databases (URLs printed).")
    ] = False,
) -> None:
    run(
        "http",
        _argv(
            residents=residents,
            small=small,
            large=large,
            rounds=rounds,
            seconds=seconds,
            connections=connections,
            batch_connections=batch_connections,
            workers=workers,
            only=only,
            keep=keep,
        ),
    )


@app.command(help=_help("partitions"), short_help=_summary("partitions"))
def partitions(
    residents: Annotated[int, typer.Option(min=1, help="Synthetic current residents.")] = 1_000_000,
    repeat: Annotated[int, typer.Option(min=1, help="Warm runs of each query.")] = 15,
) -> None:
    run("partitions", _argv(residents=residents, repeat=repeat))


@app.command(help=_help("policy"), short_help=_summary("policy"))
def policy(
    decisions: Annotated[int, typer.Option(min=1, help="Decisions per round.")] = 5_000,
    rounds: Rounds = 5,
) -> None:
    run("policy", _argv(decisions=decisions, rounds=rounds))


@app.command(help=_help("replica"), short_help=_summary("replica"))
def replica(
    residents: Annotated[int, typer.Option(min=1, help="Synthetic residents loaded.")] = 5000,
    seconds: Annotated[int, typer.Option(min=1, help="Seconds of each wrk run.")] = 10,
    connections: Annotated[int, typer.Option(min=1, help="wrk connections.")] = 16,
    rounds: Rounds = 2,
) -> None:
    run(
        "replica",
        _argv(residents=residents, seconds=seconds, connections=connections, rounds=rounds),
    )


if __name__ == "__main__":
    app()
