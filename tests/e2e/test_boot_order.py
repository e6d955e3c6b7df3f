"""A deployment's boot order, from the installed wheel, on loopback.

What a deployment does, in its order (docs/deploy.md), with nothing of the checkout in reach:

1. the wheel, built with `pip wheel --no-deps` from the files the image's build stage copies
   (infra/compose/gateway.Dockerfile), in a copy of them (the checkout gets no build/ folder);
2. a fresh virtual environment with that wheel installed (`pip install`, dependencies from the
   package index; pip's cache makes a rerun fast);
3. the database: a fresh, empty database on the test cluster, migrated by the installed
   `lienthong db migrate`, the sample agreements loaded by the installed `lienthong etl load`
   from the wheel's own copy of them;
4. Keycloak: the OpenID stand-in (tests/openid.py), reached by the gateway at an internal name
   (`localhost`) while tokens name its public one (`127.0.0.1`);
5. the gateway, `<venv>/bin/lienthong serve` in prod, started in an unrelated directory;
6. the OPA sidecar: the stand-in (tests/opa.py), pulling the bundle from that gateway with the
   operations token, as infra/opa/config.yaml configures it.

The gateway must be ready only once OPA has the bundle, then answer a real request from the
files it reads out of the virtual environment's site-packages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

from lienthong.resources import SHARED
from tests import openid
from tests.dockerfile import build_stage_sources
from tests.net import answer_key, free_port
from tests.opa import Bundle, BundleService, opa_stand_in

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OPS_TOKEN = "boot-order-ops-token"
AGENCY = "motcua-danang"
SECRET = "s3cret-boot"
CLIENTS = [{"client_id": AGENCY, "client_secret": SECRET, "roles": ["agency"]}]
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 900  # a cold pip cache downloads every dependency
STEP_TIMEOUT = 180
READY_TIMEOUT = 60
OPERATION = re.compile(r"^\s*(?:query|mutation|subscription)\s+([A-Za-z_]\w*)", re.MULTILINE)


@dataclass(frozen=True)
class Installed:
    venv: Path
    share: Path  # lienthong/share/ in the venv's site-packages
    workdir: Path  # an unrelated directory: where every installed command runs


def _run(command: list[str], *, what: str, timeout: float, **kwargs: object) -> str:
    """Run a step of the deployment; fail saying which step, with what it printed."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{what}: no end after {timeout:.0f}s ({' '.join(command)})\n{expired.stdout}")
    if done.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {done.returncode}): {' '.join(command)}\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return str(done.stdout)


def _environment(venv: Path, **settings: str) -> dict[str, str]:
    """The shell's environment without anything pointing at the checkout or its settings, the
    venv first on PATH, and these LIENTHONG_ settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LIENTHONG_")
        and name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update({f"LIENTHONG_{name.upper()}": value for name, value in settings.items()})
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from the image's build-stage files, installed in a fresh venv."""
    source = tmp_path_factory.mktemp("wheel-source")
    for name in build_stage_sources():  # what infra/compose/gateway.Dockerfile copies
        origin, target = ROOT / name, source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "static")
            shutil.copytree(origin, target, ignore=ignored)
        else:
            shutil.copy2(origin, target)
    dist = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), "."],
        what="pip wheel --no-deps (the build's setuptools comes from the package index)",
        timeout=BUILD_TIMEOUT, cwd=source,
    )  # fmt: skip
    (wheel,) = dist.glob("lienthong-*.whl")

    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--clear", str(venv)], what="python -m venv", timeout=120)
    _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        what=f"pip install {wheel.name} with its dependencies (is the package index reachable?)",
        timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    workdir = tmp_path_factory.mktemp("unrelated-workdir")
    where = _run(
        [str(venv / "bin" / "python"), "-c",
         "import lienthong.resources as r; print(r.SHARE); print(r.INSTALLED)"],
        what="importing the installed package", timeout=60, cwd=workdir,
        env=_environment(venv),
    ).split()  # fmt: skip
    share = Path(where[0])
    assert share == Path(where[1]), f"the installed package reads {share}, not its share/"
    assert share.is_relative_to(venv), share
    for name in SHARED:
        assert (share / name).exists(), f"the wheel lacks {name}"
    return Installed(venv=venv, share=share, workdir=workdir)


@pytest.fixture(scope="module")
def empty_database(template_database: tuple[str, str]) -> Iterator[str]:
    """A fresh database with nothing in it, on the test cluster (named like the test run's own
    databases, so that an interrupted run's copy is dropped by the next: tests/conftest.py)."""
    server, _ = template_database
    name = f"lt_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = make_url(server).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with openid.openid_stand_in(CLIENTS, tmp_path_factory.mktemp("oidc")) as url:
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(f"{missing} (`make install` installs Node's packages for tests/oidc)")


def _get(url: str, **headers: str) -> httpx.Response | None:
    try:
        return httpx.get(url, headers=headers, timeout=5)
    except httpx.TransportError:
        return None


def test_a_deployment_boots_in_order_from_the_installed_wheel(
    installed: Installed, empty_database: str, oidc: str
) -> None:
    started = time.monotonic()
    venv_bin = installed.venv / "bin"
    workdir = installed.workdir
    assert not any(workdir.iterdir()), "the working directory holds nothing of the checkout"

    # 3. the database: migrated and loaded by the installed commands
    database = _environment(installed.venv, database_url=empty_database, env="prod")
    _run([str(venv_bin / "lienthong"), "db", "migrate"], what="lienthong db migrate",
         timeout=STEP_TIMEOUT, cwd=workdir, env=database)  # fmt: skip
    sample = installed.share / "infra" / "sample" / "policy.json"
    _run([str(venv_bin / "lienthong"), "etl", "load", "agreements", str(sample)],
         what="lienthong etl load agreements", timeout=STEP_TIMEOUT, cwd=workdir,
         env=database)  # fmt: skip

    # 5. the gateway, prod, with OPA's port named before anything listens on it
    port, opa_port = free_port(), free_port()
    gateway = f"http://127.0.0.1:{port}"
    internal = oidc.replace("127.0.0.1", "localhost")  # the same server by another name
    env = _environment(
        installed.venv,
        env="prod",
        database_url=empty_database,
        home=str(workdir / "state"),
        public_url=gateway,
        keycloak_url=oidc,
        keycloak_internal_url=internal,
        keycloak_realm=openid.REALM,
        keycloak_audience=openid.AUDIENCE,
        opa_url=f"http://127.0.0.1:{opa_port}",
        ops_token=OPS_TOKEN,
        answer_signing_key_file=answer_key(workdir.parent),
    )
    ops = {"Authorization": f"Bearer {OPS_TOKEN}"}
    log_path = workdir.parent / f"{workdir.name}-gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(venv_bin / "lienthong"), "serve", "--port", str(port), "--workers", "1"],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def said() -> str:
        return log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while (alive := _get(f"{gateway}/healthz")) is None or alive.status_code != 200:
            assert process.poll() is None, f"lienthong serve exited:\n{said()}"
            assert time.monotonic() < deadline, f"lienthong serve did not listen:\n{said()}"
            time.sleep(0.1)

        # up, but not ready: no OPA yet
        first = _get(f"{gateway}/readyz", **ops)
        assert first is not None and first.status_code == 503, said()
        assert first.json()["checks"]["policy"] != "ok"
        assert first.json()["checks"]["database"] == "ok"
        # the bundle is closed without the operations token, open with it, before readiness
        bundle_url = f"{gateway}/bundles/lienthong.tar.gz"
        refused = _get(bundle_url)
        assert refused is not None and refused.status_code == 401

        # 6. the sidecar: listening at once, its first pull a second later
        service = BundleService(url=bundle_url, token=OPS_TOKEN)
        with opa_stand_in(
            bundle=service, port=opa_port, first_pull_after=1.0, poll_seconds=0.5
        ) as opa:
            health = _get(f"{opa.url}/health?bundles")
            assert health is not None and health.status_code == 500  # no bundle yet
            seen: list[tuple[int, bool]] = []  # (/readyz's status, OPA had its bundle by then)
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                ready = _get(f"{gateway}/readyz", **ops)
                assert ready is not None, f"the gateway stopped answering:\n{said()}"
                seen.append((ready.status_code, opa.revision is not None))
                if ready.status_code == 200:
                    break
                assert time.monotonic() < deadline, (
                    f"not ready within {READY_TIMEOUT}s: {ready.text}; OPA's pulls "
                    f"{opa.pulls}\n{said()}"
                )
                time.sleep(0.1)
            # not ready while OPA listened without a bundle; ready only once it had it
            assert (503, False) in seen, seen
            assert all(had for status, had in seen if status == 200), seen
            assert 200 in opa.pulls
            health = _get(f"{opa.url}/health?bundles")
            assert health is not None and health.status_code == 200

            # the bundle the sidecar holds is the installed package's policies
            pulled = _get(bundle_url, **ops)
            assert pulled is not None and pulled.status_code == 200
            modules = dict(Bundle.from_tarball(pulled.content).modules)
            for name, source in modules.items():
                installed_file = installed.share / name
                assert installed_file.read_text(encoding="utf-8") == source, name
            assert modules, "the bundle carries no policy"
            # ETag-aware polling: the unchanged bundle is a 304 the next time
            while 304 not in opa.pulls:
                assert time.monotonic() < deadline, opa.pulls
                time.sleep(0.1)

            # one real request: the manifest of the trusted documents, for an agency's token
            token = openid.client_credentials(oidc, AGENCY, SECRET)
            manifest = _get(f"{gateway}/graphql/documents", Authorization=f"Bearer {token}")
            assert manifest is not None and manifest.status_code == 200, said()
            names = {operation["name"] for operation in manifest.json()["operations"]}
            operations = installed.share / "graphql" / "operations"
            files = {
                match
                for path in operations.glob("*.graphql")
                for match in OPERATION.findall(path.read_text(encoding="utf-8"))
            }
            assert files and files <= names, files - names
            # a token the public issuer did not sign is refused
            stranger = _get(f"{gateway}/graphql/documents", Authorization="Bearer x.y.z")
            assert stranger is not None and stranger.status_code == 401
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # nothing of the checkout was needed, and nothing was written outside the state directory
    assert {p.name for p in workdir.iterdir()} <= {"state", "rejects"}, list(workdir.iterdir())
    print(f"boot order: {time.monotonic() - started:.1f}s after the install")
