"""The one definition of an access-log entry's hash.

hash = SHA-256(prev_hash ‖ canonical JSON of the entry): sorted keys, no spaces, UTF-8 with only
`"`, backslash and control characters escaped, timestamps as UTC ISO 8601 with microseconds.
orjson writes it; for what an entry holds (strings, integers, booleans, null, lists, objects) its
output is byte for byte that of `json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`, which a property test holds. Changing any field, the order of entries in a
chain (`seq`), or a link (`prev_hash`) changes the hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = bytes(32)
HASHED_FIELDS = (
    "occurred_at",
    "chain_key",
    "seq",
    "request_id",
    "agency",
    "officer",
    "purpose",
    "legal_basis",
    "subject_type",
    "subject_id",
    "operation",
    "fields_given",
    "fields_masked",
    "fields_denied",
    "decision",
)


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(row: Mapping[str, Any]) -> bytes:
    document = {name: row[name] for name in HASHED_FIELDS}
    occurred_at = document["occurred_at"]
    if isinstance(occurred_at, datetime):  # rows read back from the table (audit verify)
        document["occurred_at"] = canonical_time(occurred_at)
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def entry_hash(prev_hash: bytes, row: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical_bytes(row)).digest()
