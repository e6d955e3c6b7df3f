"""`GET /graphiql` and `/graphiql/assets/{name}`: GraphiQL for development, served by the gateway
itself from the bundle `make install` builds (infra/graphiql → gateway/graphiql/static/).

A government LAN has no Internet: the page loads nothing but same-origin assets, and its
Content-Security-Policy says so to the browser as well. The app mounts this router in dev only.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse

STATIC = Path(__file__).resolve().parent / "static"
# What the page and Monaco's workers load by name; other files (a font) are named by these.
ENTRY_POINTS = ("graphiql.js", "graphiql.css", "editor.worker.js", "json.worker.js",
                "graphql.worker.js")  # fmt: skip
ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Only what the build emits is served, with its exact type (scripts must be JavaScript: nosniff).
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".ttf": "font/ttf",
    ".txt": "text/plain; charset=utf-8",  # the bundled packages' licences (*.LEGAL.txt)
}

# Same origin only. Beyond 'self': fonts as data: URLs (GraphiQL's stylesheet embeds its fonts
# that way) and, for styles, 'unsafe-inline': Monaco, GraphiQL's editor, writes <style> elements
# at run time (theme colours, list and widget styles: computed, so no hash, and with no hook for
# a nonce), and GraphiQL sets style attributes. No 'unsafe-eval': nothing in the bundle evaluates
# strings (the browser test reports no violation). With every fetching directive at 'self' or
# 'none', injected CSS can load nothing from elsewhere.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

NOT_BUILT = (
    "GraphiQL's assets are not built: run `make install` (it bundles infra/graphiql with esbuild "
    "into gateway/graphiql/static/), then reload this page.\n"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · Liên Thông (dev)</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/graphiql.css">
</head>
<body>
<noscript>GraphiQL needs JavaScript.</noscript>
<div id="lienthong-graphiql" data-endpoint="{endpoint}"></div>
<script type="module" src="{assets}/graphiql.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


def graphiql_available() -> bool:
    """Whether the bundle is built (`make install`), so that `/graphiql` can work."""
    return all((STATIC / name).is_file() for name in ENTRY_POINTS)


@router.get("/graphiql", response_model=None)
async def graphiql_page(request: Request) -> Response:
    if not graphiql_available():
        return PlainTextResponse(NOT_BUILT, status_code=503)
    # Behind a path prefix (root_path), the page's links and the endpoint keep it.
    root = html.escape(str(request.scope.get("root_path", "")).rstrip("/"))
    page = PAGE.format(assets=f"{root}/graphiql/assets", endpoint=f"{root}/graphql")
    return HTMLResponse(page, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


@router.get("/graphiql/assets/{name}", response_model=None)
async def graphiql_asset(name: str, request: Request) -> Response:
    media_type = MEDIA_TYPES.get(Path(name).suffix)
    path = STATIC / name
    if media_type is None or not ASSET_NAME.fullmatch(name) or not path.is_file():
        raise HTTPException(status_code=404, detail="no such asset")
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    # Names do not change between builds: the browser revalidates, and a rebuild shows at once.
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)
