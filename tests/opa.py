"""The OPA stand-in: OPA's REST API on a loopback port, for tests of the OPA adapter
(gateway/policy/opa.py) and of a deployment's boot order. The OPA binary cannot be installed
here; this evaluates the same Rego with regorus' interpreter (the embedded adapter decides with
the compiled program: gateway/policy/embedded.py).

What it answers, as OPA does:
- `POST /v1/data/<path>` with `{"input": …}`: `{"result": …}`, or `{}` when the document is
  undefined — which is every document before a bundle is active;
- `GET /health`: 200; `GET /health?bundles`: 200 once every configured bundle is active, 500
  before (what the sidecar's readiness probe reads: infra/k8s/gateway.yaml).

Its policies come either from files given up front, or from a bundle it pulls as the sidecar
configured by infra/opa/config.yaml does: `GET` the bundle's URL with the operations token as
bearer and `If-None-Match` naming the active revision, every `poll_seconds`; a new revision
(`.manifest`) replaces policies and data at once.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import regorus

DATA_PATH = re.compile(r"/v1/data((?:/[A-Za-z_][A-Za-z0-9_]*)*)/?")


@dataclass(frozen=True)
class Bundle:
    """What a bundle activates: Rego modules (name, source), the data tree and the revision."""

    modules: tuple[tuple[str, str], ...]
    data: dict[str, Any]
    revision: str

    @classmethod
    def from_tarball(cls, content: bytes) -> Bundle:
        """An OPA bundle (`.manifest`, `<root>/…/data.json`, `*.rego`), as OPA reads it."""
        modules: list[tuple[str, str]] = []
        data: dict[str, Any] = {}
        manifest: dict[str, Any] = {}
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            for member in archive.getmembers():
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is None:
                    continue
                name = member.name.lstrip("/")
                if name == ".manifest":
                    manifest = json.loads(extracted.read())
                elif name.endswith(".rego"):
                    modules.append((name, extracted.read().decode("utf-8")))
                elif name == "data.json" or name.endswith("/data.json"):
                    node = data
                    for key in name.split("/")[:-1]:
                        node = node.setdefault(key, {})
                    node.update(json.loads(extracted.read()))
        return cls(tuple(sorted(modules)), data, str(manifest.get("revision", "")))

    @classmethod
    def from_files(cls, files: Sequence[Path]) -> Bundle:
        modules = tuple((path.name, path.read_text(encoding="utf-8")) for path in files)
        return cls(modules, {}, "files")


@dataclass(frozen=True)
class BundleService:
    """Where the sidecar pulls its bundle: the URL and the gateway's operations token."""

    url: str
    token: str


class OpaStandIn:
    """The stand-in's state: the active bundle (None before one is) and the pulls it made."""

    def __init__(self, url: str, *, bundle_configured: bool) -> None:
        self.url = url
        self.bundle_configured = bundle_configured
        self._active: Bundle | None = None
        self._lock = threading.Lock()
        self.activated = threading.Event()
        self.pulls: list[int] = []  # the HTTP status of each pull; 0 when nothing answered

    @property
    def revision(self) -> str | None:
        active = self._active
        return active.revision if active is not None else None

    def activate(self, bundle: Bundle) -> None:
        with self._lock:
            self._active = bundle
        self.activated.set()

    def query(self, path: str, policy_input: object) -> dict[str, Any]:
        """OPA's answer to `POST /v1/data/<path>`: `{"result": …}`, or `{}` when undefined."""
        with self._lock:
            active = self._active
        if active is None:
            return {}
        engine = regorus.Engine()  # one per request: a regorus engine stays on its own thread
        for name, source in active.modules:
            engine.add_policy(name, source)
        engine.add_data_json(json.dumps(active.data))
        if policy_input is not None:
            engine.set_input_json(json.dumps(policy_input))
        query = "data" + path.replace("/", ".")
        answer = json.loads(engine.eval_query_as_json(query))
        results = answer.get("result") or []
        if not results:
            return {}
        return {"result": results[0]["expressions"][0]["value"]}

    def pull(self, service: BundleService) -> None:
        """One poll of the bundle service, as OPA's bundle plugin makes it."""
        headers = {"Authorization": f"Bearer {service.token}"}
        if self.revision is not None:
            headers["If-None-Match"] = f'"{self.revision}"'
        try:
            answer = httpx.get(service.url, headers=headers, timeout=5)
        except httpx.TransportError:
            self.pulls.append(0)
            return
        self.pulls.append(answer.status_code)
        if answer.status_code == 200:
            self.activate(Bundle.from_tarball(answer.content))


def _handler(opa: OpaStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            matched = DATA_PATH.fullmatch(self.path)
            if matched is None:
                self._send(404, {"code": "resource_not_found", "message": self.path})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            try:
                answer = opa.query(matched.group(1), body.get("input"))
            except Exception as error:  # an evaluation error: OPA answers 500
                self._send(500, {"code": "internal_error", "message": str(error)})
                return
            self._send(200, answer)

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path != "/health":
                self._send(404, {"code": "resource_not_found", "message": path})
            elif "bundles" in query.split("&") and opa.bundle_configured and opa.revision is None:
                self._send(500, {"error": "not all configured bundles have been activated"})
            else:
                self._send(200, {})

        def _send(self, status: int, document: dict[str, Any]) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            return

    return Handler


@contextmanager
def opa_stand_in(
    *,
    policies: Sequence[Path] = (),
    bundle: BundleService | None = None,
    port: int = 0,
    poll_seconds: float = 0.5,
    first_pull_after: float = 0.0,
) -> Iterator[OpaStandIn]:
    """The stand-in on 127.0.0.1 (`port`, or any free one), active at once with `policies`, or
    pulling `bundle` (the first pull after `first_pull_after` seconds, then every
    `poll_seconds`, until the context ends)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    opa = OpaStandIn(f"http://127.0.0.1:{server.server_address[1]}", bundle_configured=bool(bundle))
    server.RequestHandlerClass = _handler(opa)
    if policies:
        opa.activate(Bundle.from_files(policies))
    stop = threading.Event()

    def poll(service: BundleService) -> None:
        if stop.wait(first_pull_after):
            return
        while True:
            opa.pull(service)
            if stop.wait(poll_seconds):
                return

    threads = [threading.Thread(target=server.serve_forever, daemon=True)]
    if bundle is not None:
        threads.append(threading.Thread(target=poll, args=(bundle,), daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield opa
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        for thread in threads:
            thread.join(timeout=10)
