"""Privacy requests: erasure of a participant (coordinator).

The coordinator records the request on the network's behalf: it goes on the
log as `privacy.erasure_requested` through the API's own gateway (signed,
checked by the PII gate), once per participant however often it is asked. The
answer is 202: the views restrict the person's contact details once the worker
has projected the request, and the body says whether the data key was destroyed
now or until when the retention duty keeps it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from refnet.events.fields import Pseudonym, ShortText
from refnet.services.api.deps import AppSettings, Conn, CurrentPrincipal, forbidden
from refnet.services.api.errors import BODY_ERRORS, ERROR_RESPONSES, ErrorBody
from refnet.services.gateway.ingest import Gateway
from refnet.services.privacy.erasure import ParticipantUnknown, request_erasure
from refnet.services.registry.data_keys import PostgresDataKeyStore
from refnet.services.registry.tokens import Principal

router = APIRouter(prefix="/v1/privacy", tags=["privacy"], responses=ERROR_RESPONSES)


def coordinator(principal: CurrentPrincipal) -> Principal:
    """Only the coordinator asks for erasure, on the person's behalf."""
    if principal.role != "coordinator":
        raise forbidden("erasure requests are for the coordinator only")
    return principal


Coordinator = Annotated[Principal, Depends(coordinator)]


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    participant_id: Pseudonym
    reason: ShortText = Field(
        description="why, never who: e.g. `Antrag nach Art. 17 DSGVO vom 2026-11-30`; it goes "
        "on the log, so the PII gate refuses contact details, birth dates and addresses"
    )


class ErasureAccepted(BaseModel):
    model_config = ConfigDict(frozen=True)
    participant_id: str
    event_id: str = Field(description="the request's event id, the same every time it is asked")
    recorded: bool = Field(description="false: the request was already on the log")
    programme: str | None = Field(description="the first enrolment's programme")
    restricted: bool = Field(
        description="true: a retention duty runs; the key is kept, no view shows the details"
    )
    retention_until: date | None = Field(description="the duty's last day; null: no duty")
    key_destroyed: str | None = Field(description="the id of the data key destroyed now")
    next: str = Field(description="what happens next, in words")


async def _erasure_body(_: Coordinator, request: Request) -> ErasureRequest:
    # Read after the caller is known: FastAPI parses a declared body before any
    # dependency, so a stranger's malformed body would get 422 instead of 401.
    try:
        return ErasureRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(problems) from None


@router.post(
    "/erasures",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ErasureRequest.model_json_schema()}},
        }
    },
    status_code=202,
    responses={
        404: {"model": ErrorBody, "description": "no event names this participant"},
        **BODY_ERRORS,
    },
)
async def request_erasure_route(
    _: Coordinator,
    conn: Conn,
    settings: AppSettings,
    request: Request,
    body: Annotated[ErasureRequest, Depends(_erasure_body)],
) -> ErasureAccepted:
    """Record a participant's erasure request; destroy their data key unless a duty runs."""
    gateway: Gateway = request.app.state.gateway
    keys: PostgresDataKeyStore = request.app.state.data_keys
    try:
        outcome = await request_erasure(
            conn, gateway, keys, settings, body.participant_id, body.reason, datetime.now(UTC)
        )
    except ParticipantUnknown as exc:
        raise HTTPException(404, str(exc)) from exc
    shredded = outcome.shredded
    return ErasureAccepted(
        participant_id=outcome.participant_id,
        event_id=outcome.event_id,
        recorded=outcome.recorded,
        programme=outcome.retention.programme,
        restricted=outcome.restricted,
        retention_until=outcome.retention.until,
        key_destroyed=None if shredded is None else shredded.key_id,
        next=outcome.next_step(),
    )
