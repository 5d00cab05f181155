"""`POST /v1/events`: partners publish one event or a batch through the gateway."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from refnet.services.api import metrics
from refnet.services.api.deps import AppSettings, Conn, CurrentPrincipal, forbidden
from refnet.services.api.errors import BODY_ERRORS, ERROR_RESPONSES, ErrorBody
from refnet.services.gateway.ingest import Gateway, parse_body
from refnet.services.gateway.refusals import Refused

router = APIRouter(prefix="/v1", tags=["ingestion"])


class EventOutcome(BaseModel):
    index: int = Field(description="position in the posted batch, from 0")
    event_id: str
    status: Literal["accepted", "duplicate"] = Field(
        description="`duplicate`: this event_id was accepted before; nothing new was published"
    )


class IngestResponse(BaseModel):
    accepted: int = Field(description="events published to the log and confirmed by it")
    duplicates: int = Field(description="events accepted earlier, not published again")
    events: list[EventOutcome]


def publishing_partner(principal: CurrentPrincipal) -> str:
    """Only partner tokens publish, and only for their own partner."""
    if principal.role != "partner" or principal.partner_id is None:
        raise forbidden("only partner tokens publish events")
    return principal.partner_id


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def is_json(content_type: str | None) -> bool:
    """Whether a body of `content_type` is read as JSON: none given, `application/json`
    or an `application/*+json` type, whatever its parameters."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it grows past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, "too_large", f"the body has {declared} bytes; at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_BODY_SCHEMA: dict[str, Any] = {
    "description": (
        "One event object, or an array of them (at most `REFNET_INGEST_MAX_EVENTS`, default "
        "1,000, and `REFNET_INGEST_MAX_BYTES`, default 5 MiB). Each event is an envelope of the "
        "v1 catalogue (JSON Schemas in `events/schemas/`) without `publisher_id`, `sequence` "
        "and `signature`: the gateway adds those when it signs."
    ),
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "object"},
                    {"type": "array", "items": {"type": "object"}, "minItems": 1},
                ]
            }
        }
    },
}


@router.post(
    "/events",
    status_code=202,
    response_model=IngestResponse,
    summary="Publish one event or a batch",
    description=(
        "The batch is validated whole: if any event is invalid the answer is 422 listing every "
        "problem with the event's `index`, and nothing is published. Every event must name the "
        "token's partner (else 403). An `event_id` accepted before is answered as `duplicate` "
        "and not published again; reused with another body it is 409. 202 means the log "
        "confirmed every event (`acks=all`); the projections apply them shortly, and events "
        "that break a rule appear under `/v1/partners/{partner_id}/rejections`. 503 means "
        "nothing was accepted: send the same request again after `Retry-After` seconds."
    ),
    openapi_extra={"requestBody": _BODY_SCHEMA},
    responses={
        **ERROR_RESPONSES,
        **BODY_ERRORS,
        403: {"model": ErrorBody, "description": "not a partner token, or another partner's event"},
        409: {"model": ErrorBody, "description": "an event_id already names another event"},
        413: {"model": ErrorBody, "description": "too many bytes or events"},
        503: {"model": ErrorBody, "description": "the log did not confirm; retry later"},
    },
)
async def post_events(
    request: Request,
    settings: AppSettings,
    partner_id: Annotated[str, Depends(publishing_partner)],
    conn: Conn,
    gateway: Annotated[Gateway, Depends(_gateway)],
) -> IngestResponse:
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        raise Refused(
            415,
            "unsupported_media_type",
            f"the body must be JSON (Content-Type: application/json), not {content_type!r}",
        )
    raw = await read_limited(request, settings.ingest_max_bytes)
    items = parse_body(raw, settings.ingest_max_events)
    result = await gateway.ingest(conn, partner_id, items)
    metrics.ingested(result.accepted, result.duplicates)
    return IngestResponse(
        accepted=result.accepted,
        duplicates=result.duplicates,
        events=[
            EventOutcome(index=o.index, event_id=o.event_id, status=o.status)
            for o in result.outcomes
        ],
    )
