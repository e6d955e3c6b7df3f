"""Masks an agreement may put on a field instead of giving it in clear.

Each kind keeps the value's GraphQL type, so a masked answer is still a valid answer:
`year_only` keeps the year of an ISO date (ISO 8601 reduced precision, "1985"), `last4` keeps the
last four characters of an identifier, `initials` keeps the initials of a name, and
`province_only` keeps only the province of an address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any


class UnknownMask(ValueError):  # noqa: N818 - the guard turns it into a denial
    """The agreement names a mask this gateway cannot apply: the field is denied instead."""


def _year_only(value: Any) -> Any:
    return str(value)[:4]


def _last4(value: Any) -> Any:
    text = str(value)
    return "*" * max(0, len(text) - 4) + text[-4:]


def _initials(value: Any) -> Any:
    return " ".join(f"{word[0]}." for word in str(value).split())


def _province_only(value: Any) -> Any:
    return replace(value, commune_code=None, commune_name=None, line=None)


MASKS: dict[str, Callable[[Any], Any]] = {
    "year_only": _year_only,
    "last4": _last4,
    "initials": _initials,
    "province_only": _province_only,
}


def apply_mask(kind: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        mask = MASKS[kind]
    except KeyError:
        raise UnknownMask(kind) from None
    return mask(value)
