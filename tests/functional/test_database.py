"""The test database is a real PostgreSQL with PostGIS and the extensions the registries rely on."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def test_postgis_answers(session: AsyncSession) -> None:
    version = (await session.execute(text("SELECT postgis_full_version()"))).scalar_one()
    assert 'POSTGIS="3.' in version


async def test_extensions_and_vietnamese_collation(session: AsyncSession) -> None:
    installed = set(
        (await session.execute(text("SELECT extname FROM pg_extension"))).scalars().all()
    )
    assert {"postgis", "pg_trgm", "unaccent", "btree_gist"} <= installed
    ordered = (
        (
            await session.execute(
                text(
                    "SELECT name FROM (VALUES ('Đức'), ('Dũng'), ('Ân'), ('An'), ('Bảo'))"
                    " AS t(name) "
                    "ORDER BY name COLLATE vietnamese"
                )
            )
        )
        .scalars()
        .all()
    )
    assert ordered == ["An", "Ân", "Bảo", "Dũng", "Đức"]


async def test_database_is_utf8(session: AsyncSession) -> None:
    encoding = (await session.execute(text("SHOW server_encoding"))).scalar_one()
    assert encoding == "UTF8"


async def test_each_test_runs_in_a_rolled_back_transaction_part_one(session: AsyncSession) -> None:
    await session.execute(text("CREATE TABLE rollback_probe (id int)"))
    await session.commit()  # releases the savepoint only


async def test_each_test_runs_in_a_rolled_back_transaction_part_two(session: AsyncSession) -> None:
    exists = (await session.execute(text("SELECT to_regclass('rollback_probe')"))).scalar_one()
    assert exists is None
