"""Opaque page cursors: a few strings, base64 of JSON, for the GraphQL and the admin API alike.

A client may only hand back what it was given; anything else is a CursorError (the caller says
which argument was wrong, in its own API's terms).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


class CursorError(ValueError):
    """Not a cursor this platform handed out."""


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeError) as error:
        raise CursorError("invalid cursor") from error
    if not (
        isinstance(parts, list) and len(parts) == size and all(isinstance(p, str) for p in parts)
    ):
        raise CursorError("invalid cursor")
    return parts


def decode_timed_cursor(cursor: str) -> tuple[datetime, str]:
    """A cursor of (ISO instant, key), as keyset pages ordered by time hand out."""
    instant, key = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(instant), key
    except ValueError as error:
        raise CursorError("invalid cursor") from error


def decode_id_cursor(cursor: str) -> int:
    """A cursor of one numeric id, as keyset pages ordered by a serial id hand out."""
    (key,) = decode_cursor(cursor, 1)
    if not (key.isascii() and key.isdigit()):
        raise CursorError("invalid cursor")
    return int(key)
