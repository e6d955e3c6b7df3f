"""`lienthong serve`: the gateway under uvicorn."""

from __future__ import annotations

import os

import typer
import uvicorn


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(
        os.cpu_count() or 1, min=1, help="Worker processes (default: cores)."
    ),
) -> None:
    """Serve the gateway (GraphQL, health, metrics) with uvicorn."""
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        access_log=False,  # the access log of record is the audit log; URLs may carry IDs
        server_header=False,  # no banner naming the server software
    )
