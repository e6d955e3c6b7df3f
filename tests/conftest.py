"""Test harness: a real PostgreSQL + PostGIS for the run, a rolled-back transaction per test.

The session brings the embedded cluster up (or uses LIENTHONG_DATABASE_URL), migrates a template
database once per set of migration files, clones a fresh database from it for this run, and drops
it at the end. Each test gets an AsyncSession inside a transaction that is rolled back; code under
test that commits only releases a savepoint.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import lienthong.models  # noqa: F401 - every table mapped, as in the running platform
from lienthong import migrate
from lienthong.cluster import EmbeddedCluster
from lienthong.settings import Settings, get_settings
from registries.db import create_engine

REPO = Path(__file__).resolve().parent.parent
# Everything a migration reads: its own files and the seed data it loads.
MIGRATION_INPUTS = (
    Path(migrate.MIGRATIONS_DIR),
    REPO / "registries" / "data",
    REPO / "registries" / "reference" / "seed.py",
)
TEMPLATE_LOCK = 7_240_001  # advisory lock key: one template build at a time across test runs


def _migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    files = [
        p for root in MIGRATION_INPUTS for p in ([root] if root.is_file() else root.rglob("*"))
    ]
    for path in sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _with_dbname(url: str, dbname: str) -> str:
    return make_url(url).set(database=dbname).render_as_string(hide_password=False)


def _build_template(admin: psycopg.Connection[tuple[object, ...]], base_url: str) -> str:
    template = f"lt_tpl_{_migrations_fingerprint()}"
    admin.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK,))
    try:
        for (stale,) in admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'lt\\_tpl\\_%%' AND datname <> %s",
            (template,),
        ).fetchall():  # templates of migrations that no longer exist
            admin.execute(
                sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(stale))
            )
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(stale)))
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
            return template
        building = f"{template}_build"
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(building))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
        migrate.upgrade(Settings(database_url=_with_dbname(base_url, building)))
        admin.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(template)
            )
        )
        admin.execute(
            sql.SQL("ALTER DATABASE {} IS_TEMPLATE true").format(sql.Identifier(template))
        )
        return template
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK,))


def _drop_abandoned_test_databases(admin: psycopg.Connection[tuple[object, ...]]) -> None:
    """Databases of earlier runs that were killed before their teardown (the pid is in the name)."""
    for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'lt_test_%'"):
        pid = int(str(name).split("_")[2])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        except PermissionError:
            continue  # a live process of another user


@pytest.fixture(scope="session")
def template_database() -> tuple[str, str]:
    """(server URL, name of the migrated template database) for this test run."""
    base = Settings()
    if base.uses_embedded_database:
        EmbeddedCluster(base).up()
    with psycopg.connect(_with_dbname(base.libpq_url, "postgres"), autocommit=True) as admin:
        _drop_abandoned_test_databases(admin)
        return base.libpq_url, _build_template(admin, base.libpq_url)


@contextmanager
def _clone(base_url: str, template: str) -> Iterator[str]:
    """A fresh database cloned from the template, dropped afterwards."""
    name = f"lt_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(_with_dbname(base_url, "postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield _with_dbname(base_url, name)
    finally:
        with psycopg.connect(_with_dbname(base_url, "postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def database_url(template_database: tuple[str, str]) -> Iterator[str]:
    """URL of a freshly migrated database used by this test run only."""
    with _clone(*template_database) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIENTHONG_DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def committed_database_url(template_database: tuple[str, str]) -> Iterator[str]:
    """A database of the module's own, for end-to-end tests whose data must be committed (the
    gateway opens its own connections), so that no other test sees it."""
    with _clone(*template_database) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """An AsyncSession in a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        db_session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield db_session
        finally:
            await db_session.close()
            await transaction.rollback()
