"""The floor of `python -m bench http`: the least an HTTP service can do for the same read.

A bare Starlette app on an asyncpg pool: `GET /residents/{id}` reads the resident's current
version by primary key (the same ~10 columns the prefill shows) and answers JSON. No token, no
policy, no audit: whatever the gateway costs above this is the price of those.
`BENCH_FLOOR_DSN` names the database (uvicorn's workers import this module on their own).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

RESIDENT = (
    "SELECT personal_id, full_name, birth_date, sex, ethnicity_code, nationality, "
    "permanent_commune_code, permanent_address_line, household_id, relationship_to_head "
    "FROM residents WHERE personal_id = $1 AND valid_to IS NULL"
)


async def resident(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    row = await pool.fetchrow(RESIDENT, request.path_params["personal_id"])
    if row is None:
        return Response(b'{"resident":null}', status_code=404, media_type="application/json")
    return Response(orjson.dumps({"resident": dict(row)}), media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_FLOOR_DSN"], min_size=4)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(routes=[Route("/residents/{personal_id}", resident)], lifespan=lifespan)
