"""Whether the API's database and broker answer, and how far the projection lags the log.

A dependency that is down is reported, never raised: the body says which, with HTTP 503.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from refnet.events.errors import LogUnavailable
from refnet.events.settings import Settings
from refnet.projections.store.views import PartitionLag
from refnet.projections.worker.heartbeat import WorkerStatus, projection_verdict, worker_statuses
from refnet.projections.worker.lag import partition_lag
from refnet.services.api.deps import AppSettings, BearerToken, Pool, pooled, unauthenticated
from refnet.services.api.errors import ERROR_RESPONSES
from refnet.services.registry.tokens import authenticate

log = logging.getLogger(__name__)
# Every way the database can fail a probe: down, refusing, timing out, or broken.
_DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Component(BaseModel):
    up: bool | None = Field(description="whether it answered; null when it was not checked")
    detail: str


class Lag(BaseModel):
    total: int | None = Field(description="events in the log not yet in the read model")
    partitions: list[PartitionLag]


class Projection(Component):
    refused_batches: int = Field(
        description="batches the running workers refused for skipping offsets not yet applied "
        "(after a database crash or a reset); each was followed by a seek back"
    )
    workers: list[WorkerStatus]


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`ok` only if both answer, the event log's lag is known and no worker is "
        "stuck (or missing while events wait)"
    )
    broker: Component
    database: Component
    lag: Lag
    projection: Projection


_UNKNOWN_LAG = Lag(total=None, partitions=[])
_UNKNOWN_PROJECTION = Projection(
    up=None, detail="not checked: the database is down", refused_batches=0, workers=[]
)
router = APIRouter(prefix="/v1", tags=["operations"], responses={401: ERROR_RESPONSES[401]})


async def database_probe(token: BearerToken, pool: Pool) -> Component:
    """Authenticates the caller, which also checks the database: 401 for a bad token.

    With the database down nobody can be authenticated; such a caller learns only
    that it is down (as a 503 would tell), and the broker is not probed for them.
    """
    try:
        async with pooled(pool) as conn:
            principal = await authenticate(conn, token)
            version = await conn.fetchval("SHOW server_version")
    except _DATABASE_ERRORS as exc:
        log.warning("health: database unavailable: %r", exc)
        return Component(up=False, detail="unavailable")
    if principal is None:
        raise unauthenticated("the token is unknown, expired or revoked", invalid=True)
    return Component(up=True, detail=f"PostgreSQL {version}")


async def _broker(
    pool: asyncpg.Pool, settings: Settings, database: Component
) -> tuple[Component, Component, Lag]:
    """(broker, database, lag): the database may fail between the two probes."""
    try:
        async with pooled(pool) as conn:
            partitions = await partition_lag(conn, settings)
    except LogUnavailable as exc:
        broker = Component(up=False, detail=f"{settings.kafka_bootstrap}: {exc}")
        return broker, database, _UNKNOWN_LAG
    except _DATABASE_ERRORS as exc:
        log.warning("health: database failed during the lag probe: %r", exc)
        not_checked = Component(up=None, detail="not checked: the database failed")
        return not_checked, Component(up=False, detail="unavailable"), _UNKNOWN_LAG
    if not partitions:
        # The broker answers, but without the log there is no lag to report.
        detail = f"{settings.kafka_bootstrap}: topic {settings.topic_events} not found"
        return Component(up=True, detail=detail), database, _UNKNOWN_LAG
    detail = f"{settings.kafka_bootstrap}: {len(partitions)} partitions of {settings.topic_events}"
    if any(p.ahead_of_log for p in partitions):
        detail += "; the read model is ahead of the log (topic recreated?): reset the read model"
        return Component(up=False, detail=detail), database, _UNKNOWN_LAG
    lag = Lag(total=sum(p.lag for p in partitions), partitions=partitions)
    return Component(up=True, detail=detail), database, lag


@router.get("/health", responses={503: {"model": Health, "description": "something is down"}})
async def read_health(
    database: Annotated[Component, Depends(database_probe)],
    pool: Pool,
    settings: AppSettings,
    response: Response,
) -> Health:
    """Database and broker state and the projection's lag; HTTP 503 when something is down."""
    broker, lag = Component(up=None, detail="not checked: the database is down"), _UNKNOWN_LAG
    projection = _UNKNOWN_PROJECTION
    if database.up:
        broker, database, lag = await _broker(pool, settings, database)
    if database.up:
        projection = await _projection(pool, settings, lag)
    healthy = database.up and broker.up and lag.total is not None and projection.up is not False
    status: Literal["ok", "degraded"] = "ok" if healthy else "degraded"
    response.status_code = 200 if status == "ok" else 503
    return Health(status=status, broker=broker, database=database, lag=lag, projection=projection)


async def _projection(pool: asyncpg.Pool, settings: Settings, lag: Lag) -> Projection:
    """The workers' own reports: a worker that is up but stuck is not healthy."""
    try:
        async with pooled(pool) as conn:
            workers = await worker_statuses(
                conn, settings.consumer_group, settings.worker_stall_seconds
            )
    except _DATABASE_ERRORS as exc:
        log.warning("health: database failed during the worker probe: %r", exc)
        return _UNKNOWN_PROJECTION
    up, detail = projection_verdict(workers, lag.total)
    refused = sum(w.refused_batches for w in workers if w.state != "gone")
    return Projection(up=up, detail=detail, refused_batches=refused, workers=workers)


# -- the orchestrator's probes: no token, no detail (a load balancer asks them) -----------

probes = APIRouter(include_in_schema=False)


class Probe(BaseModel):
    ready: bool


@probes.get("/livez")
async def live() -> Probe:
    """The process answers: a restart would not help while this holds."""
    return Probe(ready=True)


@probes.get("/readyz")
async def ready(pool: Pool, response: Response) -> Probe:
    """The database answers, so requests can be served; 503 takes the pod out of rotation.

    The broker is left out: when it is down every pod is alike, and publishing already
    answers 503 with Retry-After, which is clearer to a client than no pod at all.
    """
    try:
        async with pooled(pool) as conn:
            await conn.fetchval("SELECT 1")
    except _DATABASE_ERRORS as exc:
        log.warning("readyz: database unavailable: %r", exc)
        response.status_code = 503
        return Probe(ready=False)
    return Probe(ready=True)
