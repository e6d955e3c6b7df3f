"""OPA bundles: the policies and the agreements as data, with a content-derived revision.

OPA sidecars poll `/bundles/lienthong.tar.gz` (ETag-aware) and activate a new revision as soon
as it appears; rolling back is serving the previous bundle again.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from gateway.policy.embedded import policy_files
from lienthong.resources import POLICIES_DIR

ROOT = "lienthong"


def _add(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    info.mtime = 0  # reproducible: the same content makes the same bytes
    archive.addfile(info, io.BytesIO(content))


def build_bundle(data: dict[str, Any], *, folder: Path = POLICIES_DIR) -> tuple[bytes, str]:
    """The bundle's bytes and its revision (a digest of policies and data)."""
    policies = {f"policies/{p.name}": p.read_bytes() for p in policy_files(folder)}
    data_bytes = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    digest = hashlib.sha256(data_bytes)
    for name, content in sorted(policies.items()):
        digest.update(name.encode())
        digest.update(content)
    revision = digest.hexdigest()[:16]
    manifest = json.dumps({"revision": revision, "roots": [ROOT]}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, ".manifest", manifest)
        _add(archive, f"{ROOT}/data.json", data_bytes)
        for name, content in sorted(policies.items()):
            _add(archive, name, content)
    return buffer.getvalue(), revision
