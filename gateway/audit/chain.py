"""The one definition of an access-log entry's hash.

hash = SHA-256(prev_hash ‖ canonical JSON of the entry), the JSON with sorted keys, no spaces,
UTF-8, timestamps as UTC ISO 8601 with microseconds. Changing any field, the order of entries
in a chain (`seq`), or a link (`prev_hash`) changes the hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return canonical_time(value)
    if isinstance(value, list | tuple):
        return list(value)
    return value


# One encoder for every row: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(row: Mapping[str, Any]) -> bytes:
    document = {name: _canonical(row[name]) for name in HASHED_FIELDS}
    return _ENCODER.encode(document).encode()


def entry_hash(prev_hash: bytes, row: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical_bytes(row)).digest()
