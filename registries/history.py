"""Versioned rows: every registry (and the policy data) keeps its history in the same table.

A change closes the open version (`valid_to` set) and opens a new one (`valid_from` = the same
instant), so validity periods never overlap; the database enforces it with an exclusion constraint
over `tstzrange(valid_from, valid_to)` per business key, and a partial unique index keeps exactly
one open version per key. `recorded_at` is when the row was written (transaction clock), which
may differ from `valid_from` when a change is back-dated by its source.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Identity,
    Index,
    Select,
    String,
    and_,
    bindparam,
    cast,
    column,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, ExcludeConstraint
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Mapped, aliased, mapped_column
from sqlalchemy.orm.util import AliasedClass

VIETNAM_TIME = ZoneInfo("Asia/Ho_Chi_Minh")


class Versioned:
    """Mixin for a versioned table; combine with `history_table_args` in `__table_args__`."""

    version_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    valid_from: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


def history_table_args(
    table: str, *key_columns: str, numeric_keys: Collection[str] = ()
) -> tuple[Any, ...]:
    """Constraints of a versioned table whose business key is `key_columns`.

    Keys listed in `numeric_keys` are all digits (personal IDs, enterprise codes) and enter the
    exclusion constraint's GiST index as bigint: GiST over long text keys with shared prefixes
    made bulk loads several times slower.
    """
    return (
        ExcludeConstraint(
            *(
                (cast(column(key), BigInteger) if key in numeric_keys else column(key), "=")
                for key in key_columns
            ),
            (func.tstzrange(column("valid_from"), column("valid_to")), "&&"),
            name=f"ex_{table}_no_overlap",
            using="gist",
        ),
        Index(
            f"uq_{table}_open_version",
            *key_columns,
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
        ),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_period"),
    )


VersionedT = TypeVar("VersionedT", bound=Versioned)


def is_current(model: type[Versioned] | AliasedClass[Any]) -> ColumnElement[bool]:
    return model.valid_to.is_(None)


@dataclass(frozen=True)
class Reach:
    """One table a read reaches, as `alias`: the root (no `parent`), or the current version of
    `model` whose `key` attribute equals the `parent_attribute` of the row `parent` names."""

    alias: str
    model: type[Versioned]
    key: str
    parent: str | None = None
    parent_attribute: str | None = None

    def labelled(self) -> list[tuple[str, str]]:
        """Each mapped column attribute of `model` and its label in `current_with_reach`'s rows."""
        return [(a.key, f"{self.alias}_{a.key}") for a in inspect(self.model).column_attrs]

    @property
    def key_label(self) -> str:
        return f"{self.alias}_{self.key}"


def current_with_reach(reaches: Sequence[Reach], *, many: bool) -> Select[Any]:
    """Current versions of the root (`reaches[0]`) by its key — one bound key, or with `many`
    an array of them — each with the current version of what it reaches (left joins). Every
    mapped column is labelled as `Reach.labelled` says (`<alias>_<attribute>`)."""
    tables = {reach.alias: aliased(reach.model, name=reach.alias) for reach in reaches}
    root, table = reaches[0], tables[reaches[0].alias]
    query = select(
        *(
            getattr(tables[reach.alias], attribute).label(label)
            for reach in reaches
            for attribute, label in reach.labelled()
        )
    ).select_from(table)
    for reach in reaches[1:]:
        joined, parent = tables[reach.alias], tables[str(reach.parent)]
        query = query.outerjoin(
            joined,
            and_(
                getattr(joined, reach.key) == getattr(parent, str(reach.parent_attribute)),
                is_current(joined),
            ),
        )
    key = getattr(table, root.key)
    wanted = (
        key == func.any(bindparam("keys", type_=ARRAY(String)))
        if many
        else key == bindparam("key", type_=String)
    )
    return query.where(wanted, is_current(table))


def end_of_day(day: date) -> datetime:
    """The instant an `asOf: Date` read looks at: the last moment of that day, Vietnam time."""
    return datetime.combine(day + timedelta(days=1), time.min, VIETNAM_TIME) - timedelta(
        microseconds=1
    )


def valid_at(model: type[Versioned], at: datetime | date) -> ColumnElement[bool]:
    instant = at if isinstance(at, datetime) else end_of_day(at)
    return and_(
        model.valid_from <= instant, or_(model.valid_to.is_(None), model.valid_to > instant)
    )


async def supersede(
    *,
    session: AsyncSession,
    model: type[VersionedT],
    key: dict[str, Any],
    values: dict[str, Any],
    effective: datetime | None = None,
) -> tuple[VersionedT, bool]:
    """Apply `values` to the entity `key` from `effective` on (default: now); attributes not
    in `values` carry over from the open version, so a change may name only what changes.

    Opens a new version only when something changed; returns (current version, changed?).
    The open version is locked first, so two concurrent changes of one key serialise. A change
    effective before the open version began is refused: history is not rewritten here.
    """
    key_filter = [getattr(model, name) == value for name, value in key.items()]
    current = (
        await session.execute(select(model).where(*key_filter, is_current(model)).with_for_update())
    ).scalar_one_or_none()
    if current is not None:
        if all(getattr(current, name) == value for name, value in values.items()):
            return current, False
        now = effective or (await session.execute(select(func.now()))).scalar_one()
        if now < current.valid_from:
            raise ValueError(
                f"a change effective {now.isoformat()} predates the open version "
                f"({current.valid_from.isoformat()})"
            )
        if current.valid_from == now:
            # Opened in this very transaction: nobody could have seen it, amend it in place.
            for name, value in values.items():
                setattr(current, name, value)
            await session.flush()
            return current, True
        await session.execute(
            update(model).where(model.version_id == current.version_id).values(valid_to=now)
        )
        await session.refresh(current)
    carried = {} if current is None else _state(current)
    new_version = model(**{**carried, **key, **values})
    if effective is not None:
        new_version.valid_from = effective
    session.add(new_version)
    await session.flush()
    await session.refresh(new_version)
    return new_version, True


_HISTORY_COLUMNS = frozenset({"version_id", "valid_from", "valid_to", "recorded_at"})


def _state(version: Versioned) -> dict[str, Any]:
    """A version's business attributes, without its history bookkeeping."""
    return {
        attribute.key: getattr(version, attribute.key)
        for attribute in inspect(type(version)).column_attrs
        if attribute.key not in _HISTORY_COLUMNS
    }


async def fetch_by_keys(
    *,
    session: AsyncSession,
    model: type[VersionedT],
    key: InstrumentedAttribute[str],
    keys: Sequence[str],
    as_of: datetime | date | None = None,
) -> list[VersionedT | None]:
    """The version of each key (current, or valid at `as_of`), in the order asked, None where
    absent — in one SQL statement whatever the number of keys."""
    if not keys:
        return []
    rows = (
        await session.execute(select(model).where(key.in_(set(keys)), versions_at(model, as_of)))
    ).scalars()
    found = {getattr(row, key.key): row for row in rows}
    return [found.get(k) for k in keys]


def versions_at(model: type[Versioned], as_of: datetime | date | None) -> ColumnElement[bool]:
    """The filter for the version in force now (`as_of` None) or at `as_of`."""
    return is_current(model) if as_of is None else valid_at(model, as_of)


async def fetch_children(
    *,
    session: AsyncSession,
    model: type[VersionedT],
    parent_key: InstrumentedAttribute[str],
    parent_keys: Sequence[str],
    order_by: Sequence[Any] = (),
    as_of: datetime | date | None = None,
) -> dict[str, list[VersionedT]]:
    """The versions (current, or at `as_of`) of the rows belonging to each parent, e.g. an
    enterprise's representatives — in one SQL statement whatever the number of parents."""
    found: dict[str, list[VersionedT]] = defaultdict(list)
    if not parent_keys:
        return found
    rows = await session.execute(
        select(model)
        .where(parent_key.in_(set(parent_keys)), versions_at(model, as_of))
        .order_by(parent_key, *order_by)
    )
    for child in rows.scalars():
        found[getattr(child, parent_key.key)].append(child)
    return found
