"""`refnet serve`: run the HTTP API with uvicorn until interrupted.

The settings are built once here and handed to `create_app`; the database is
checked (and migrated) before uvicorn starts, so a down database is one red
line instead of a startup traceback.
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from refnet.services.api.app import create_app
from refnet.services.cli.console import friendly
from refnet.services.cli.root import cli_settings, with_connection

# h11 refuses a request head it cannot parse within this many buffered bytes. Its
# default (16 KiB) made a long URL pass or fail depending on how the bytes were
# split across reads; a fixed, larger bound answers the same request the same way.
MAX_REQUEST_HEAD_BYTES = 128 * 1024


async def _ready(_: object) -> None:
    """Nothing to do: `with_connection` has connected and migrated by now."""


@friendly
def serve(
    host: Annotated[
        str | None, typer.Option(help="address to bind (default: REFNET_API_HOST)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="port to listen on (default: REFNET_API_PORT)"),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) until interrupted."""
    settings = cli_settings()
    with_connection(settings, _ready)
    bind_host = host if host is not None else settings.api_host
    bind_port = port if port is not None else settings.api_port
    # A taken port is logged by uvicorn in one line, and it exits 1.
    uvicorn.run(
        create_app(settings),
        host=bind_host,
        port=bind_port,
        log_level="info",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )
