"""`refnet serve`: run the HTTP API with uvicorn until interrupted.

The settings are built once here and handed to `create_app`; the database is
checked (and migrated) and the gateway's key made before uvicorn starts, so a
down database is one red line instead of a startup traceback. With `--workers
N` uvicorn runs N processes on one port, each building the app from the
environment, each with its own pool and its own gateway holder (its own blocks
of sequence numbers).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
import typer
import uvicorn

from refnet.events.logs import dict_config
from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.api.metrics import MULTIPROCESS_DIR
from refnet.services.cli.console import friendly
from refnet.services.cli.root import cli_settings, with_connection
from refnet.services.registry.keys import ensure_gateway_key

# h11 refuses a request head it cannot parse within this many buffered bytes. Its
# default (16 KiB) made a long URL pass or fail depending on how the bytes were
# split across reads; a fixed, larger bound answers the same request the same way.
MAX_REQUEST_HEAD_BYTES = 128 * 1024
APP_FROM_ENVIRONMENT = "refnet.services.api.app:app_from_environment"


def _ready(settings: Settings) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    """The gateway's key made and registered once, before any API process starts."""

    async def ready(conn: asyncpg.Connection) -> None:
        await ensure_gateway_key(conn, settings.gateway_key_file)

    return ready


@friendly
def serve(
    host: Annotated[
        str | None, typer.Option(help="address to bind (default: REFNET_API_HOST)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="port to listen on (default: REFNET_API_PORT)"),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="API processes sharing the port (each its own pool)"),
    ] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) until interrupted."""
    settings = cli_settings()
    with_connection(settings, _ready(settings))
    bind_host = host if host is not None else settings.api_host
    bind_port = port if port is not None else settings.api_port
    # A taken port is logged by uvicorn in one line, and it exits 1.
    # More than one process: uvicorn starts each from the environment, which holds
    # everything the settings are made of.
    app: object = create_app(settings) if workers == 1 else APP_FROM_ENVIRONMENT
    if workers > 1:
        _share_metrics(settings)
    json_logs = settings.log_format == "json"  # in text, uvicorn keeps its own lines
    uvicorn.run(
        app,  # type: ignore[arg-type]
        factory=workers > 1,
        workers=workers,
        host=bind_host,
        port=bind_port,
        log_level="info",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        log_config=dict_config("json") if json_logs else uvicorn.config.LOGGING_CONFIG,
    )


def _share_metrics(settings: Settings) -> None:
    """An empty directory where the API processes write their metrics, for `/metrics` to
    add up (prometheus-client's multiprocess mode); the processes inherit its variable."""
    where = settings.data_path() / "api-metrics" / str(os.getpid())
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR] = str(where)
