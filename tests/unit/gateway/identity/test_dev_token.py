"""`lienthong dev token` mints the roles a steward's decisions depend on: repeated or
comma-separated, named by `--sub`, and read back by the gateway's own verifier as the
stewardship they stand for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.identity import cli
from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.jwks import LocalKeys
from gateway.identity.principal import Principal
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import Settings, get_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIENTHONG_HOME", str(tmp_path))
    monkeypatch.setenv("LIENTHONG_ENV", "dev")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


async def _principal(home: Path, *args: str) -> Principal:
    answer = CliRunner().invoke(cli.app, ["token", *args])
    assert answer.exit_code == 0, answer.output
    settings = Settings(home=home)
    verifier = TokenVerifier(
        issuer=settings.token_issuer,
        audience=settings.keycloak_audience,
        keys=LocalKeys(DevIssuer(settings).jwks()),
    )
    return await verifier.verify(answer.stdout.strip())


async def test_repeated_and_comma_separated_roles_are_all_minted(home: Path) -> None:
    principal = await _principal(
        home, "--agency", "steward-console", "--sub", "steward-tam",
        "--role", "steward,steward:land:48", "--roles", "steward:population", "--role", "admin",
    )  # fmt: skip
    assert principal.subject == "steward-tam"
    assert principal.roles >= {"steward", "steward:land:48", "steward:population", "admin"}
    assert principal.is_steward
    stewardship = principal.stewardship
    assert stewardship.admin
    assert stewardship.covers("land", "48")
    assert not stewardship.covers("land", None)  # a province's steward: not national agencies
    assert stewardship.covers("population", None)
    assert not stewardship.covers("enterprise", "48")


async def test_without_roles_an_agency_token(home: Path) -> None:
    principal = await _principal(home, "--agency", "motcua-danang")
    assert principal.roles >= {"agency"}
    assert principal.subject == "service-account-motcua-danang"
    assert not principal.is_steward


@pytest.mark.parametrize("role", ["steward:lands", "steward:land:480", "steward:land:4x"])
def test_a_steward_role_that_would_grant_nothing_is_refused(home: Path, role: str) -> None:
    answer = CliRunner().invoke(
        cli.app, ["token", "--agency", "steward-console", "--role", f"steward,{role}"]
    )
    assert answer.exit_code == 2
    said = " ".join(answer.stderr.split())
    assert f"'{role}' grants nothing" in said
    assert "registries: enterprise, land, population" in said
    assert answer.stdout == ""


def test_a_subject_is_not_given_to_an_officers_token(home: Path) -> None:
    answer = CliRunner().invoke(
        cli.app,
        ["token", "--agency", "motcua-danang", "--sub", "x", "--officer", "an.nv",
         "--officer-name", "Nguyễn Văn An", "--unit", "Một cửa"],
    )  # fmt: skip
    assert answer.exit_code == 2
    assert "--sub" in answer.stderr
