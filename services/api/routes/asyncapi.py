"""`GET /asyncapi.json`: the AsyncAPI document of this installation's Kafka log.

Open to anyone, as `/openapi.json` is: it describes topics, schemas and ACLs, never
data. It is made for the running settings, so its topics and brokers are this
installation's, not the defaults of the committed `events/asyncapi.json`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from refnet.services.api.deps import AppSettings
from refnet.services.kafka.asyncapi import asyncapi_document, render

# Out of the OpenAPI schema, as the probes and /metrics are: it is not part of the JSON API.
router = APIRouter(include_in_schema=False)


@router.get("/asyncapi.json")
async def read_asyncapi(request: Request, settings: AppSettings) -> Response:
    """The AsyncAPI 3.0 document, made once per app (the settings are frozen)."""
    body: bytes | None = getattr(request.app.state, "asyncapi", None)
    if body is None:
        body = render(asyncapi_document(settings)).encode("utf-8")
        request.app.state.asyncapi = body
    return Response(body, media_type="application/json")
