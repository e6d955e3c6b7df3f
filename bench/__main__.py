"""`python -m bench [NAME ...]`: run the named benchmarks (modules `bench/bench_<name>.py`), or all.

Each module exposes `main(argv: list[str]) -> None` and prints its own figures.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    folder = Path(__file__).resolve().parent
    return sorted(path.stem.removeprefix("bench_") for path in folder.glob("bench_*.py"))


def run(argv: list[str]) -> int:
    names = [arg for arg in argv if not arg.startswith("-")] or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    options = [arg for arg in argv if arg.startswith("-")]
    for name in names:
        print(f"== bench {name}")
        importlib.import_module(f"bench.bench_{name}").main(options)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
