"""The one build step pyproject.toml (the metadata's only source) cannot express: the wheel
carries the files the code reads at run time (`SHARED` in lienthong/resources.py: policies,
forms, trusted documents, the schema, the sample policy) under the installed package's
`lienthong/share/`, where lienthong/resources.py looks first.

Invariants:
- one list: `SHARED` is read from lienthong/resources.py as a literal (nothing of the package is
  imported, so building needs none of its dependencies);
- an editable install (`pip install -e .`, `make install`) copies nothing: the checkout's own
  folders are read in place, and no `lienthong/share/` appears in the source tree;
- a source distribution carries the same files, so a wheel built from it is the same.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
RESOURCES = HERE / "lienthong" / "resources.py"
SHARE = Path("lienthong") / "share"


def shared() -> tuple[str, ...]:
    """`lienthong.resources.SHARED`, read from the module's source."""
    for node in ast.parse(RESOURCES.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "SHARED" for target in node.targets
        ):
            return tuple(str(name) for name in ast.literal_eval(node.value))
    raise RuntimeError(f"{RESOURCES} defines no SHARED tuple")


def shared_files() -> list[Path]:
    """Every file of `SHARED`, relative to the repository root."""
    files: list[Path] = []
    for name in shared():
        source = HERE / name
        if source.is_file():
            files.append(Path(name))
        elif source.is_dir():
            files.extend(
                path.relative_to(HERE)
                for path in sorted(source.rglob("*"))
                if path.is_file()
                and not any(part.startswith(".") or part == "__pycache__" for part in path.parts)
                and path.suffix != ".pyc"
            )
        else:
            raise FileNotFoundError(f"{name} (lienthong/resources.py: SHARED) is missing")
    return files


class BuildWithShared(build_py):
    """setuptools' build_py, then `SHARED` copied into the build's `lienthong/share/`."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # the checkout is read in place (lienthong/resources.py)
        share = Path(self.build_lib) / SHARE
        shutil.rmtree(share, ignore_errors=True)  # nothing left from an earlier build
        for name in shared_files():
            target = share / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / name, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            outputs += [str(Path(self.build_lib) / SHARE / name) for name in shared_files()]
        return outputs

    def get_source_files(self) -> list[str]:
        """What a source distribution must carry: the packages' sources and `SHARED`."""
        return [*super().get_source_files(), *(str(name) for name in shared_files())]


setup(cmdclass={"build_py": BuildWithShared})
