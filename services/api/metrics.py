"""The API's Prometheus metrics: `GET /metrics`, and the middleware that times each request.

Requests are labelled by the route's template (`/v1/partners/{partner_id}/inbox`),
never the path itself, so a label's values stay as few as the routes. With
`refnet serve --workers N` each process writes its values to files in
`PROMETHEUS_MULTIPROC_DIR` (set by `serve`) and `/metrics` adds them up, so a
scrape sees the whole port whichever process answers. No metric carries a
token, an id or personal data; `REFNET_API_METRICS=false` turns the route off.
"""

from __future__ import annotations

import os
import re
import time
import uuid

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refnet.events.logs import log_context

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
UNMATCHED = "unmatched"  # a path no route has: one label value, whatever was asked
# From a health check (a millisecond) to a report built over the whole log (tens of seconds).
REQUEST_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# One registry per process, shared by every app built in it (tests build many).
REGISTRY = CollectorRegistry()
REQUESTS = Histogram(
    "refnet_api_request_duration_seconds",
    "Time from a request's arrival to its answer's last byte, by route, method and status",
    ["route", "method", "status"],
    buckets=REQUEST_SECONDS,
    registry=REGISTRY,
)
INGESTED = Counter(
    "refnet_api_ingested_events",
    "Events answered 202 by POST /v1/events: accepted (published) or duplicate",
    ["status"],
    registry=REGISTRY,
)
REFUSALS = Counter(
    "refnet_api_refusals",
    "Requests refused as a whole, by the error code of the answer",
    ["reason"],
    registry=REGISTRY,
)

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    if not request.app.state.settings.api_metrics:
        return Response(status_code=404)
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def refused(code: str) -> None:
    """A request was refused whole with error `code` (the error handlers call this)."""
    REFUSALS.labels(code).inc()


def ingested(accepted: int, duplicates: int) -> None:
    INGESTED.labels("accepted").inc(accepted)
    INGESTED.labels("duplicate").inc(duplicates)


def request_id(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is a plain token of up to 64 characters, else a new
    one: it is written into log lines, so nothing else from a header gets there."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return str(given)
    return uuid.uuid4().hex


class RequestTimer:
    """ASGI middleware: each HTTP request's duration by route template, method and status,
    and its request id, in every log line written for it and in the answer's `X-Request-ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes before a response start is a 500
        rid = request_id(scope)

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            with log_context(request_id=rid):
                await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            REQUESTS.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - started
            )
