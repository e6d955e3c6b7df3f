"""`GET /.well-known/answer-keys.json`: the public keys signed answers verify with (JWKS)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.signing.answers import JWKS_PATH
from gateway.signing.keys import AnswerKeys

router = APIRouter(include_in_schema=False)


@router.get(JWKS_PATH)
async def answer_keys(request: Request) -> JSONResponse:
    keys: AnswerKeys = request.app.state.answer_keys
    # Short-lived in caches: after a rotation, verifiers must see the new key within a minute
    return JSONResponse(keys.jwks(), headers={"Cache-Control": "public, max-age=60"})
