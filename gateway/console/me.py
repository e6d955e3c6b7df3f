"""`/me`, the citizens' side: who is signed in. Their pages (who looked at my data, consents)
build on this; a citizen only ever sees their own personal ID's data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.console.web import CitizenSession, render

router = APIRouter()


@router.get("/")
async def home(*, request: Request, session: CitizenSession) -> Response:
    return render(request, "me.html", nav="me", citizen_id=session.citizen_id)
