"""The dev issuer's discovery document and JWKS, under Keycloak's own paths, on the gateway."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from gateway.identity.dev_issuer import DevIssuer

router = APIRouter(include_in_schema=False)


def _issuer(request: Request, realm: str) -> DevIssuer:
    issuer: DevIssuer | None = getattr(request.app.state, "dev_issuer", None)
    if issuer is None or not issuer.issuer.endswith(f"/realms/{realm}"):
        raise HTTPException(status_code=404, detail="no such realm")
    return issuer


@router.get("/realms/{realm}/.well-known/openid-configuration")
async def discovery(realm: str, request: Request) -> dict[str, Any]:
    return _issuer(request, realm).discovery()


@router.get("/realms/{realm}/protocol/openid-connect/certs")
async def certs(realm: str, request: Request) -> dict[str, Any]:
    return _issuer(request, realm).jwks()
