"""Every migration runs up, down to base and up again on an empty database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import create_engine, make_url

import lienthong.models  # noqa: F401  (every table on Base.metadata)
from lienthong import migrate
from lienthong.migrations.env_filters import include_object
from lienthong.settings import Settings
from registries.db import Base


@pytest.fixture
def empty_database_url(database_url: str) -> Iterator[str]:
    name = f"lt_empty_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(database_url).set(database="postgres").render_as_string(False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(database_url).set(database=name).render_as_string(False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_name NOT IN ('spatial_ref_sys', 'geography_columns', 'geometry_columns')"
        ).fetchall()
    return {str(row[0]) for row in rows}


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    settings = Settings(database_url=empty_database_url)
    migrate.upgrade(settings)
    first = _tables(empty_database_url)
    migrate.downgrade(settings, "base")
    assert _tables(empty_database_url) <= {"alembic_version"}
    migrate.upgrade(settings)
    assert _tables(empty_database_url) == first


def test_models_and_migrations_agree(database_url: str) -> None:
    """What the migrations built is what the models declare (columns, types, indexes, keys)."""
    engine = create_engine(Settings(database_url=database_url).sync_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": include_object, "compare_type": True},
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
