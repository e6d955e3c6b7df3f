"""The console's own assets (gateway/console/static/), served by the gateway: no CDN, nothing
from elsewhere (a government LAN has no Internet)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from gateway.console.web import CONTENT_SECURITY_POLICY, STATIC

ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

router = APIRouter()


@router.get("/static/{name}")
async def asset(*, name: str, request: Request) -> Response:
    media_type = MEDIA_TYPES.get(Path(name).suffix)
    path = STATIC / name
    if media_type is None or not ASSET_NAME.fullmatch(name) or not path.is_file():
        raise HTTPException(status_code=404, detail="no such asset")
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    # the SVG icon is a document too: the pages' policy holds it (no script, nothing elsewhere)
    headers = {"Cache-Control": "no-cache", "ETag": etag,
               "Content-Security-Policy": CONTENT_SECURITY_POLICY}  # fmt: skip
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)
