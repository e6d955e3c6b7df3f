"""The canonical encoding an access-log entry is hashed over."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.audit.chain import GENESIS, HASHED_FIELDS, canonical_bytes, entry_hash

TEXT = st.text(alphabet=st.characters(codec="utf-8"))  # every code point, controls included
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
STDLIB = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(HASHED_FIELDS)
    row.update(occurred_at="2026-11-23T08:00:00.000000Z", seq=1, fields_given=["fullName"])
    row.update(values)
    return row


@given(subject=TEXT, officer=st.none() | TEXT, fields=st.lists(TEXT, max_size=5), decision=VALUES)
def test_the_encoding_is_the_stdlib_canonical_json(
    subject: str, officer: str | None, fields: list[str], decision: Any
) -> None:
    row = _row(subject_id=subject, officer=officer, fields_denied=fields, decision=decision)
    expected = STDLIB.encode({name: row[name] for name in HASHED_FIELDS}).encode()
    assert canonical_bytes(row) == expected


def test_a_timestamp_read_back_hashes_as_the_one_written() -> None:
    written = _row(occurred_at="2026-11-23T08:00:00.000001Z")
    read_back = _row(
        occurred_at=datetime(2026, 11, 23, 15, 0, 0, 1, tzinfo=timezone(timedelta(hours=7)))
    )
    assert entry_hash(GENESIS, read_back) == entry_hash(GENESIS, written)
    later = _row(occurred_at=datetime(2026, 11, 23, 8, 0, 0, 2, tzinfo=UTC))
    assert entry_hash(GENESIS, later) != entry_hash(GENESIS, written)


def test_tuples_and_lists_hash_alike_and_every_field_counts() -> None:
    assert canonical_bytes(_row(fields_given=("a", "b"))) == canonical_bytes(
        _row(fields_given=["a", "b"])
    )
    base = entry_hash(GENESIS, _row())
    for name in HASHED_FIELDS:
        assert entry_hash(GENESIS, _row(**{name: "changed"})) != base, name
    assert entry_hash(b"\x01" * 32, _row()) != base
