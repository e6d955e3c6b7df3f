"""Operators' endpoints in prod: `/metrics`, `/readyz`'s details and the OPA bundle answer only
a caller with the operations token (`LIENTHONG_OPS_TOKEN`, what Prometheus and OPA sidecars are
configured with). They reveal the platform's shape (agencies, agreements, traffic), which is no
business of anyone else on the network. In dev they are open; in prod without a token set,
closed."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from lienthong.settings import Env, Settings


def ops_allowed(request: Request, settings: Settings) -> bool:
    if settings.env is Env.DEV:
        return True
    expected = settings.ops_token.get_secret_value()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


def require_ops(request: Request) -> None:
    """A dependency: 401 unless the caller may read operators' endpoints."""
    if not ops_allowed(request, request.app.state.settings):
        raise HTTPException(
            status_code=401,
            detail="the operations token is required (Authorization: Bearer …)",
            headers={"WWW-Authenticate": 'Bearer realm="lienthong-ops"'},
        )
