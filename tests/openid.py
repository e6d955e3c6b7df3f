"""The OpenID stand-in for Keycloak (tests/oidc: panva's oidc-provider, installed by `make
install`) on a loopback port, for tests that run the gateway in prod (Keycloak mode).

It serves Keycloak's paths under /realms/<realm> and issues client-credentials JWTs with
Keycloak's claims (`azp`, `realm_access.roles`, `resource_access`) for the clients it is given.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.net import free_port

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
REALM = "lienthong"
AUDIENCE = "lienthong-gateway"


class StandInMissing(RuntimeError):  # noqa: N818 - what is wrong, said plainly
    """Node or tests/oidc/node_modules is not installed."""


def installed() -> bool:
    """Whether Node and the stand-in's npm packages are there."""
    node_modules = OIDC_DIR / "node_modules" / "oidc-provider"
    return shutil.which("node") is not None and node_modules.exists()


@contextmanager
def openid_stand_in(
    clients: Sequence[dict[str, Any]], workdir: Path, *, timeout: float = 30.0
) -> Iterator[str]:
    """The stand-in serving `clients` (each `client_id`, `client_secret`, `roles`, and `opaque`
    for opaque tokens); yields its base URL (the realm is under /realms/lienthong)."""
    node = shutil.which("node")
    if node is None or not installed():
        raise StandInMissing("Node and tests/oidc/node_modules are installed by `make install`")
    clients_file = workdir / "oidc-clients.json"
    clients_file.write_text(json.dumps(list(clients)), encoding="utf-8")
    port = free_port()
    log = workdir / "oidc.log"  # a file, not a pipe: nothing blocks on what it prints
    with log.open("wb") as output:
        process = subprocess.Popen(
            [node, "server.mjs", str(port), REALM, AUDIENCE, str(clients_file)],
            cwd=OIDC_DIR, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                discovery = f"{url}/realms/{REALM}/.well-known/openid-configuration"
                if httpx.get(discovery, timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=10)
                said = log.read_text(encoding="utf-8", errors="replace")
                raise StandInMissing(f"oidc-provider did not start: {said}")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def client_credentials(url: str, client_id: str, secret: str) -> str:
    """An access token for a client, by the client-credentials grant (as agency software gets
    one from Keycloak)."""
    answer = httpx.post(
        f"{url}/realms/{REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])
