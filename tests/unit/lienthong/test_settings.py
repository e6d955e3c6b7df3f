from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from lienthong import resources
from lienthong.settings import PROJECT_ROOT, AuthMode, Env, Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings under test come from these tests alone, not from the shell running them."""
    for name in [name for name in os.environ if name.startswith("LIENTHONG_")]:
        monkeypatch.delenv(name)


def test_defaults_point_at_the_embedded_cluster() -> None:
    settings = Settings()
    assert settings.env is Env.DEV
    assert settings.auth_mode is AuthMode.DEV
    assert settings.uses_embedded_database
    assert settings.libpq_url == "postgresql://postgres@127.0.0.1:54329/lienthong"
    assert settings.async_database_url.startswith("postgresql+asyncpg://")
    assert settings.sync_database_url.startswith("postgresql+psycopg://")
    assert settings.audit_fsync is True
    assert settings.opa_url == ""


def test_prod_defaults_to_keycloak_and_json_logs() -> None:
    settings = Settings(env=Env.PROD)
    assert settings.auth_mode is AuthMode.KEYCLOAK
    assert settings.log_json is True


def test_environment_variables_use_the_lienthong_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_ENV", "prod")
    monkeypatch.setenv("LIENTHONG_AUTH_MODE", "dev")
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", "postgres://u:p@db.example:5432/lt")
    monkeypatch.setenv("LIENTHONG_AUDIT_FSYNC", "false")
    settings = Settings()
    assert settings.env is Env.PROD
    assert settings.auth_mode is AuthMode.DEV
    assert settings.libpq_url == "postgresql://u:p@db.example:5432/lt"
    assert settings.async_database_url == "postgresql+asyncpg://u:p@db.example:5432/lt"
    assert settings.audit_fsync is False


def test_a_non_postgresql_url_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="must be a postgresql:// URL"):
        Settings(database_url="sqlite:///x.db")


def test_an_unknown_env_is_refused() -> None:
    with pytest.raises(ValidationError, match="env"):
        Settings(env="staging")  # type: ignore[arg-type]


def test_replica_urls_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "LIENTHONG_DATABASE_REPLICA_URLS",
        "postgres://app@replica-1:5432/lienthong, postgresql+psycopg://app@replica-2/lienthong,",
    )
    assert Settings().async_replica_urls == [
        "postgresql+asyncpg://app@replica-1:5432/lienthong",
        "postgresql+asyncpg://app@replica-2/lienthong",
    ]
    assert Settings(database_replica_urls="").async_replica_urls == []


def test_a_replica_url_that_is_not_postgresql_is_refused() -> None:
    with pytest.raises(ValidationError, match="LIENTHONG_DATABASE_REPLICA_URLS"):
        Settings(database_replica_urls="postgresql://a/x,mysql://b/y")


def test_home_is_the_checkouts_state_directory_in_a_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # wherever the command runs from
    assert resources.SHARE == resources.CHECKOUT  # the tests run from the checkout
    assert Settings().home == PROJECT_ROOT / ".lienthong"


def test_installed_home_is_under_the_working_directory_not_site_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Installed from a wheel, the package's files are under site-packages' lienthong/share/
    (lienthong/resources.py): state goes to the working directory's `.lienthong/`."""
    monkeypatch.setattr(resources, "SHARE", resources.INSTALLED)
    monkeypatch.chdir(tmp_path)
    assert Settings().home == tmp_path / ".lienthong"
    monkeypatch.setenv("LIENTHONG_HOME", "/var/lib/lienthong")
    assert Settings().home == Path("/var/lib/lienthong")


def test_keycloak_is_fetched_at_the_internal_url_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIENTHONG_ENV", "prod")
    monkeypatch.setenv("LIENTHONG_KEYCLOAK_URL", "http://localhost:8080")
    public = Settings()
    assert public.keycloak_server_url == "http://localhost:8080"
    monkeypatch.setenv("LIENTHONG_KEYCLOAK_INTERNAL_URL", "http://keycloak:8080")
    inside = Settings()
    assert inside.keycloak_server_url == "http://keycloak:8080"
    # tokens keep the issuer clients see
    assert inside.token_issuer == public.token_issuer == "http://localhost:8080/realms/lienthong"
