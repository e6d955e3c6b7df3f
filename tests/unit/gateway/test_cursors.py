"""Opaque page cursors: what is handed out comes back; nothing else is accepted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cursors import CursorError, decode_cursor, decode_id_cursor, encode_cursor


@given(parts=st.lists(st.text(), min_size=1, max_size=3))
def test_a_cursor_decodes_to_its_parts(parts: list[str]) -> None:
    assert decode_cursor(encode_cursor(*parts), len(parts)) == parts


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "", encode_cursor("a"), "WzEsIDJd"],  # WzEsIDJd: [1, 2]
)
def test_anything_else_is_refused(cursor: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(cursor, 2)


def test_an_id_cursor_gives_back_its_number_and_nothing_else() -> None:
    assert decode_id_cursor(encode_cursor("42")) == 42
    for bad in (encode_cursor("4x"), encode_cursor("٤٢"), encode_cursor("1", "2"), "%%"):
        with pytest.raises(CursorError):
            decode_id_cursor(bad)
