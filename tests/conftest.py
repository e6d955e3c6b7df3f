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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import lienthong.models  # noqa: F401 - every table mapped, as in the running platform
from gateway.app import create_app
from lienthong import migrate
from lienthong.cluster import EmbeddedCluster
from lienthong.settings import Settings, get_settings
from registries.db import create_engine
from tests import console, openid

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


# -- the web console (tests/functional/test_console*.py, tests/e2e/test_console*_browser.py) ----
# A module names who may sign in (`console_users`); the stand-in serves them with the console's
# clients (tests/console.py), sending people back to `console_base`.


@pytest.fixture(scope="module")
def console_base() -> str:
    """Where the console is reached: the in-process app's base URL (e2e: the real server's)."""
    return console.BASE


@pytest.fixture(scope="module")
def console_users() -> list[dict[str, Any]]:
    """Who may sign in at the stand-in: each console test module says (tests/console.py)."""
    return []


@pytest.fixture(scope="module")
def oidc(
    console_base: str, console_users: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The OIDC stand-in (tests/oidc) with the console's clients and the module's users; its
    base URL."""
    workdir = tmp_path_factory.mktemp("oidc")
    try:
        with openid.openid_stand_in(console.clients(console_base), workdir,
                                    users=console_users) as url:  # fmt: skip
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture(scope="module")
def console_settings(
    committed_database_url: str, oidc: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The gateway's settings for the in-process console: the module's committed database, the
    stand-in as the provider."""
    return Settings(
        database_url=committed_database_url,
        home=tmp_path_factory.mktemp("console-home"),
        public_url=console.BASE,
        console_oidc_url=oidc,
        console_client_secret=SecretStr(console.CONSOLE_SECRET),
    )


@pytest.fixture(scope="module")
async def app(console_settings: Settings) -> AsyncIterator[FastAPI]:
    """The whole gateway app in process, its lifespan run, for the module's tests."""
    gateway = create_app(console_settings)
    async with gateway.router.lifespan_context(gateway):
        yield gateway


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """Browsers on the app, each with its own cookies (a person each)."""
    async with AsyncExitStack() as stack:

        def new() -> httpx.AsyncClient:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url=console.BASE)  # fmt: skip
            stack.push_async_callback(client.aclose)
            return client

        yield new
