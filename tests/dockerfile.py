"""The gateway image's Dockerfile read as its stages: what the manifests' tests check and what
the boot-order test builds the wheel from."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "infra" / "compose" / "gateway.Dockerfile"


def stages() -> list[list[tuple[str, list[str]]]]:
    """The Dockerfile's stages, each a list of (instruction, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[tuple[str, list[str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, *arguments = line.split()
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments))
    return stages


def build_stage_sources() -> list[str]:
    """What the Dockerfile's first stage copies from the build context (the wheel's inputs)."""
    return [
        source
        for instruction, arguments in stages()[0]
        if instruction == "COPY"
        for source in arguments[:-1]
    ]
