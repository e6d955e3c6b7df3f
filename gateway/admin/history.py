"""Versioned policy rows as REST resources: the open version is the resource, its `version_id`
its ETag, and the closed versions its history (who changed what, and when)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gateway.admin.http import decode_cursor, etag, require_match
from gateway.admin.problems import not_found
from gateway.cursors import encode_cursor
from registries.history import Versioned, is_current

VersionedT = TypeVar("VersionedT", bound=Versioned)


def _key_filter(model: type[Versioned], key: Mapping[str, str]) -> list[Any]:
    return [getattr(model, name) == value for name, value in key.items()]


async def current(
    *, session: AsyncSession, model: type[VersionedT], key: Mapping[str, str], what: str
) -> VersionedT:
    found = (
        await session.execute(select(model).where(*_key_filter(model, key), is_current(model)))
    ).scalar_one_or_none()
    if found is None:
        raise not_found(what, "/".join(key.values()))
    return found


async def for_change(
    *,
    session: AsyncSession,
    model: type[VersionedT],
    key: Mapping[str, str],
    what: str,
    if_match: str | None,
) -> VersionedT:
    """The open version, locked until the transaction ends, if it is the one the caller read."""
    found = (
        await session.execute(
            select(model).where(*_key_filter(model, key), is_current(model)).with_for_update()
        )
    ).scalar_one_or_none()
    if found is None:
        raise not_found(what, "/".join(key.values()))
    require_match(if_match, etag(found.version_id))
    return found


async def versions(
    *, session: AsyncSession, model: type[VersionedT], key: Mapping[str, str], what: str
) -> list[VersionedT]:
    """Every version, oldest first."""
    rows = list(
        (
            await session.execute(
                select(model).where(*_key_filter(model, key)).order_by(model.valid_from)
            )
        ).scalars()
    )
    if not rows:
        raise not_found(what, "/".join(key.values()))
    return rows


async def keyset_page(
    *,
    session: AsyncSession,
    query: Select[VersionedT],
    key: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> tuple[list[VersionedT], str | None]:
    """Open versions ordered by their business key, `limit` at a time."""
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(key > after)
    rows = list((await session.execute(query.order_by(key).limit(limit + 1))).scalars())
    items = rows[:limit]
    more = len(rows) > limit
    return items, encode_cursor(getattr(items[-1], key.key)) if more else None
