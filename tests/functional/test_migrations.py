"""Every migration runs up, down to base and up again on an empty database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

from lienthong import migrate
from lienthong.settings import Settings


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
