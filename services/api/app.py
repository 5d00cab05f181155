"""The HTTP API's composition root: `create_app(settings)` builds the FastAPI app.

Nothing connects at import or at `create_app`: the lifespan loads the
key-encryption key, opens the pool, applies the migrations, checks the KEK
against the registry's, and closes the pool when the server stops. A missing or
wrong KEK stops the API at start (`services/registry/data_keys.py`): there is no
default KEK, so an API never runs with one nobody configured.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from refnet.events.publisher import AsyncPublisher
from refnet.events.settings import Settings
from refnet.events.signing import Signer
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.services.api import metrics
from refnet.services.api.deps import pooled
from refnet.services.api.errors import install_error_handlers
from refnet.services.api.metrics import RequestTimer
from refnet.services.api.routes import (
    asyncapi,
    audit,
    events,
    health,
    network,
    partners,
    privacy,
    reports,
    sequences,
)
from refnet.services.dashboard import app as dashboard
from refnet.services.gateway.ingest import Gateway
from refnet.services.gateway.sequence_blocks import HolderSession
from refnet.services.registry.data_keys import (
    KekError,
    PostgresDataKeyStore,
    check_kek,
    load_kek,
)
from refnet.services.registry.keys import ensure_gateway_key

log = logging.getLogger(__name__)

DESCRIPTION = """
A RefNet referral network: partners publish events (`POST /v1/events`) and read
views built from the projection of the shared event log.

**Authentication.** Every request carries `Authorization: Bearer rn_<id>_<secret>`,
a token issued with `refnet tokens issue`. Without a valid, unexpired, unrevoked
token the answer is 401.

**Access.** The coordinator reads everything. Auditors read the network's
aggregated views but not partners' person-level lists. A partner token reads
only `/v1/partners/{its own id}/...` and publishes only events naming its own
partner id, and records unused sequence numbers (`POST /v1/sequences/unused`) only
for its own publisher id. Anything else is 403.

**Periods.** `from` is inclusive and `to` exclusive; both are ISO 8601 dates or
date-times, and a value without an offset is taken as UTC.

**Errors.** Every error body is
`{"error": {"code": ..., "message": ..., "fields": [{"field": ..., "reason": ...}]}}`,
where `fields` names each invalid parameter as it appears in the request.
"""


def _version() -> str:
    try:
        return version("refnet")
    except PackageNotFoundError:
        return "0+unknown"


def app_from_environment() -> FastAPI:
    """The API for the `REFNET_*` environment: what each process of `serve --workers N` runs."""
    return create_app(Settings())


def create_app(settings: Settings) -> FastAPI:
    """The API for `settings`; its pool lives from startup to shutdown on `app.state.pool`.

    `app.state.data_keys` is the participants' data-key store (a `PostgresDataKeyStore`
    on the pool), for the views that open contact details; a route that already holds
    a pooled connection uses `data_keys.on(conn)`, as the gateway does.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            kek = load_kek(settings)  # before the pool: a missing KEK needs no database
        except KekError as exc:
            log.error("the API cannot start: %s", exc)  # one line above uvicorn's traceback
            raise
        pool = await connect_pool(settings)
        gateway: Gateway | None = None
        try:
            async with pooled(pool) as conn:
                await migrate(conn, settings.read_model_schema, settings.registry_schema)
                try:
                    await check_kek(conn, kek)
                except KekError as exc:
                    log.error("the API cannot start: %s", exc)
                    raise
                key = await ensure_gateway_key(conn, settings.gateway_key_file)
            data_keys = PostgresDataKeyStore(pool, kek)
            # Its sequence numbers are reserved in PostgreSQL, shared by its restarts.
            signer = Signer(key, settings.gateway_publisher_id)
            timeout_ms = int(settings.ingest_publish_timeout * 1000)
            publisher = AsyncPublisher(settings, **{"message.timeout.ms": timeout_ms})
            gateway = Gateway(signer, publisher, HolderSession(settings), data_keys)
            app.state.pool = pool
            app.state.data_keys = data_keys
            app.state.gateway = gateway
            yield
        finally:
            if gateway is not None:
                await gateway.close(pool)
            await pool.close()

    app = FastAPI(
        title="RefNet API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(RequestTimer)
    app.include_router(metrics.router)
    app.include_router(health.probes)
    app.include_router(asyncapi.router)
    for module in (events, sequences, network, reports, partners, privacy, audit, health):
        app.include_router(module.router)
    app.include_router(dashboard.router)
    return app
