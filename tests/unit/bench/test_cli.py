"""`python -m bench`: help prints help and runs nothing; options reach the benchmark as it reads
them; the options declared are the ones each benchmark reads, with its defaults."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from bench.__main__ import FOLDER, NAMES, app

REPO = Path(__file__).resolve().parents[3]
Ran = list[tuple[str, list[str]]]


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Ran:
    """Every benchmark's `main` replaced by a recorder: what would have run, with what argv."""
    calls: Ran = []
    for name in NAMES:
        module = importlib.import_module(f"bench.bench_{name}")

        def record(argv: list[str], name: str = name) -> None:
            calls.append((name, argv))

        monkeypatch.setattr(module, "main", record)
    return calls


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="python -m bench")


def _commands() -> TyperGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group


def test_every_benchmark_module_has_its_command() -> None:
    modules = sorted(path.stem.removeprefix("bench_") for path in FOLDER.glob("bench_*.py"))
    assert list(NAMES) == modules
    assert sorted(_commands().commands) == modules


def test_help_prints_usage_and_runs_nothing(ran: Ran) -> None:
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    for name in NAMES:
        assert name in result.output
    assert "== bench" not in result.output
    assert ran == []


@pytest.mark.parametrize("name", NAMES)
def test_a_benchmark_s_help_prints_its_options_and_runs_nothing(ran: Ran, name: str) -> None:
    result = _invoke(name, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: python -m bench {name} [OPTIONS]")
    assert "--rounds" in result.output or "--residents" in result.output
    assert "== bench" not in result.output
    assert ran == []


def test_a_misspelt_option_is_refused_before_anything_runs(ran: Ran) -> None:
    result = _invoke("http", "--residentz=10")
    assert result.exit_code == 2
    assert "--residentz" in result.output
    assert ran == []


def test_options_reach_the_benchmark_as_it_reads_them(ran: Ran) -> None:
    result = _invoke("http", "--only", "prefill,prefill-dossier", "--small=0", "--keep")
    assert result.exit_code == 0, result.output
    assert ran == [
        (
            "http",
            [
                "--residents=1000000",
                "--small=0",
                "--large=0",
                "--rounds=5",
                "--seconds=10",
                "--connections=32",
                "--batch-connections=4",
                "--only=prefill,prefill-dossier",
                "--keep",
            ],
        )
    ]
    assert "== bench http" in result.output


def test_an_option_takes_its_value_either_way(ran: Ran) -> None:
    result = _invoke("policy", "--rounds", "3", "--decisions=10")
    assert result.exit_code == 0, result.output
    assert ran == [("policy", ["--decisions=10", "--rounds=3"])]


def test_a_value_out_of_range_is_refused(ran: Ran) -> None:
    result = _invoke("audit", "--rounds=0")
    assert result.exit_code == 2
    assert ran == []


def test_no_command_runs_every_benchmark_with_its_defaults(ran: Ran) -> None:
    result = _invoke()
    assert result.exit_code == 0, result.output
    assert ran == [(name, []) for name in NAMES]


def _read_by_module(source: str) -> dict[str, Any]:
    """`_option(argv, "--name", default)` calls in a module: name → the literal default (None
    when the default is computed, e.g. the CPU count)."""
    read: dict[str, Any] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_option":
            flag, default = node.args[1], node.args[2]
            assert isinstance(flag, ast.Constant) and isinstance(flag.value, str)
            read[flag.value] = default.value if isinstance(default, ast.Constant) else None
    return read


@pytest.mark.parametrize("name", NAMES)
def test_the_options_declared_are_the_module_s_with_its_defaults(name: str) -> None:
    declared = {
        param.opts[0]: param.default
        for param in _commands().commands[name].params
        if param.opts[0] != "--help"
    }
    source = (FOLDER / f"bench_{name}.py").read_text(encoding="utf-8")
    read = _read_by_module(source)
    assert {flag: declared.get(flag, "not declared") for flag in read} == read
    for flag in declared.keys() - read.keys():  # read by hand: --keep, --only=…
        assert f'"{flag}' in source, f"{flag} is declared but bench_{name}.py never reads it"


def test_python_m_bench_help_prints_help_without_running() -> None:
    for args in (["--help"], ["http", "--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "bench", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage: python -m bench"), result.stdout
        assert "== bench" not in result.stdout
