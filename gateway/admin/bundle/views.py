"""`GET /bundles/lienthong.tar.gz` for OPA sidecars (infra/opa/config.yaml), ETag-aware: a poll
with the current revision in `If-None-Match` costs one small query and a 304."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from gateway.admin.bundle.service import BundleCache
from gateway.graph.context import Services
from gateway.ops import require_ops


def bundle_router(services: Callable[[], Services]) -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(require_ops)])
    cache = BundleCache()

    @router.get("/bundles/lienthong.tar.gz")
    async def bundle(
        if_none_match: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        async with services().sessions() as session:
            current = await cache.current(session=session)
        headers = {"ETag": current.etag, "Cache-Control": "no-cache"}
        if if_none_match is not None and current.etag in {
            t.strip() for t in if_none_match.split(",")
        }:
            return Response(status_code=304, headers=headers)
        return Response(current.content, media_type="application/gzip", headers=headers)

    return router
