"""The repository's graphql/ folder (schema, operations) must never shadow graphql-core."""

from __future__ import annotations

import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_graphql_is_graphql_core_from_site_packages() -> None:
    graphql = importlib.import_module("graphql")
    location = Path(graphql.__file__ or "").resolve()
    assert "site-packages" in location.parts
    assert REPO / "graphql" not in location.parents
    assert hasattr(graphql, "graphql_sync")  # graphql-core's API, not a namespace package


def test_graphql_folder_holds_no_python() -> None:
    assert not list((REPO / "graphql").rglob("*.py"))
