"""The history mechanism on a throw-away versioned table inside the test transaction."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import String, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from registries.history import (
    VIETNAM_TIME,
    Versioned,
    end_of_day,
    history_table_args,
    is_current,
    supersede,
    valid_at,
)


class _Base(DeclarativeBase):
    pass


class Thing(Versioned, _Base):
    __tablename__ = "history_probe"
    __table_args__ = history_table_args("history_probe", "code")
    code: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(String(50))


@pytest.fixture
async def things(session: AsyncSession) -> AsyncSession:
    connection = await session.connection()
    await connection.run_sync(_Base.metadata.create_all)
    return session


async def _backdate(session: AsyncSession, version_id: int, days: int) -> None:
    """Move a version into the past so a later change in the same transaction can close it."""
    await session.execute(
        update(Thing)
        .where(Thing.version_id == version_id)
        .values(valid_from=text(f"now() - interval '{days} days'"))
    )


async def test_change_closes_the_open_version_and_opens_a_new_one(things: AsyncSession) -> None:
    first, changed = await supersede(
        session=things, model=Thing, key={"code": "A"}, values={"label": "one"}
    )
    assert changed
    await _backdate(things, first.version_id, 10)
    _, changed = await supersede(
        session=things, model=Thing, key={"code": "A"}, values={"label": "two"}
    )
    assert changed
    versions = (await things.execute(select(Thing).order_by(Thing.valid_from))).scalars().all()
    await things.refresh(versions[0])
    assert [v.label for v in versions] == ["one", "two"]
    assert versions[0].valid_to == versions[1].valid_from
    assert versions[1].valid_to is None
    current = (await things.execute(select(Thing).where(is_current(Thing)))).scalar_one()
    assert current.label == "two"
    past = (
        await things.execute(select(Thing).where(valid_at(Thing, date.today() - timedelta(days=5))))
    ).scalar_one()
    assert past.label == "one"
    before_anything = (
        await things.execute(
            select(Thing).where(valid_at(Thing, date.today() - timedelta(days=30)))
        )
    ).scalar_one_or_none()
    assert before_anything is None


async def test_a_change_names_only_what_changes(things: AsyncSession) -> None:
    first, _ = await supersede(
        session=things, model=Thing, key={"code": "P"}, values={"label": "one", "note": "kept"}
    )
    await _backdate(things, first.version_id, 3)
    second, changed = await supersede(
        session=things, model=Thing, key={"code": "P"}, values={"label": "two"}
    )
    assert changed
    assert second.version_id != first.version_id
    assert (second.label, second.note) == ("two", "kept")


async def test_same_values_open_no_version(things: AsyncSession) -> None:
    first, _ = await supersede(
        session=things, model=Thing, key={"code": "B"}, values={"label": "x"}
    )
    await _backdate(things, first.version_id, 1)
    same, changed = await supersede(
        session=things, model=Thing, key={"code": "B"}, values={"label": "x"}
    )
    assert not changed
    assert same.version_id == first.version_id


async def test_overlapping_periods_are_refused_by_the_database(things: AsyncSession) -> None:
    start = datetime(2025, 1, 1, tzinfo=VIETNAM_TIME)
    things.add(Thing(code="C", label="a", valid_from=start, valid_to=start + timedelta(days=10)))
    await things.flush()
    things.add(
        Thing(
            code="C",
            label="b",
            valid_from=start + timedelta(days=5),
            valid_to=start + timedelta(days=20),
        )
    )
    with pytest.raises(IntegrityError, match="ex_history_probe_no_overlap"):
        await things.flush()


async def test_two_open_versions_are_refused(things: AsyncSession) -> None:
    things.add(Thing(code="D", label="a", valid_from=datetime(2025, 1, 1, tzinfo=VIETNAM_TIME)))
    things.add(Thing(code="D", label="b", valid_from=datetime(2025, 6, 1, tzinfo=VIETNAM_TIME)))
    with pytest.raises(IntegrityError):
        await things.flush()


def test_as_of_a_date_means_the_end_of_that_day_in_vietnam() -> None:
    instant = end_of_day(date(2025, 7, 1))
    assert instant.tzinfo is VIETNAM_TIME
    assert (instant.hour, instant.minute, instant.day) == (23, 59, 1)
