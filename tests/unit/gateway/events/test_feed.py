"""The feed's arguments and its place among the governed root fields: a cursor is only what the
feed handed out, a page size from 1 to 500, and `changes` needs a declared purpose like any read
of registry data."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse

from gateway.cursors import encode_cursor
from gateway.errors import ErrorCode, GatewayError
from gateway.events.feed import MAX_FIRST, _limit, _position
from gateway.graph.limits import shape_of
from registries.events import EVENT_TYPES

DOCS = Path(__file__).resolve().parents[4] / "docs" / "events.md"


def test_changes_needs_a_purpose_as_registry_reads_do() -> None:
    shape = shape_of(parse("{ changes { nodes { id data } } }"), None, None)
    assert shape is not None
    assert shape.needs_purpose
    aliased = shape_of(parse("query Q { feed: changes(first: 5) { nodes { id } } }"), "Q", {})
    assert aliased is not None
    assert aliased.needs_purpose


def test_a_cursor_names_a_transaction_and_an_event() -> None:
    assert _position(None, "after") is None
    assert _position(encode_cursor("812", "17"), "after") == (812, 17)


@pytest.mark.parametrize(
    "cursor",
    [
        "nope",
        "",
        encode_cursor("812"),
        encode_cursor("812", "17", "3"),
        encode_cursor("-1", "17"),
        encode_cursor("812", "1e3"),
        encode_cursor("８１２", "17"),  # digits, but not ASCII ones
    ],
)
def test_anything_else_is_bad_user_input_naming_the_argument(cursor: str) -> None:
    with pytest.raises(GatewayError) as refused:
        _position(cursor, "after")
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "argument": "after"}
    assert refused.value.message == "after: not a cursor this API handed out"


def test_the_ndjson_limit_is_digits() -> None:
    assert _limit(None) is None
    assert _limit("250") == 250
    for bad in ("", "-1", "1.5", "dix", "１０", "9999999"):
        with pytest.raises(GatewayError) as refused:
            _limit(bad)
        assert refused.value.extensions == {"code": "BAD_USER_INPUT", "argument": "limit"}
        assert refused.value.message == f"limit: between 1 and {MAX_FIRST}"


def test_the_agency_developers_page_lists_every_event_type_and_what_it_reveals() -> None:
    rows = [line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    for kind in EVENT_TYPES.values():
        (row,) = [r for r in rows if f"`{kind.name}`" in r]
        assert kind.subject_type in row or "the same" in row, row
        assert all(f"`{field}`" in row for field in kind.reveals), (kind.name, row)
