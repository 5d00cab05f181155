"""`POST /v1/sequences/unused`: a partner records sequence numbers it reserved and never used.

For partners that publish straight to Kafka (no registry access): after a
publish the broker did not confirm, or a crash, their client reports the numbers
here, so `refnet audit verify` counts them unused instead of missing. The rows
go to the registry's `unused_sequences` through `projections/sequence_ledger.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from refnet.events.fields import ShortText, Slug
from refnet.events.unused_numbers import MAX_RANGE_NUMBERS, MAX_RANGES, MAX_SEQUENCE
from refnet.projections.audit.sequence_accounting import distinct_numbers
from refnet.projections.audit.sequence_ledger import record_unused
from refnet.services.api.deps import AppSettings, Conn, PartnerCaller, own_publisher
from refnet.services.api.errors import BODY_ERRORS, ERROR_RESPONSES, ErrorBody
from refnet.services.api.routes.events import is_json, read_limited
from refnet.services.gateway.ingest import decode_json
from refnet.services.gateway.refusals import Refused

router = APIRouter(prefix="/v1/sequences", tags=["sequences"])

Number = Annotated[int, Field(ge=0, le=MAX_SEQUENCE)]


class UnusedRange(BaseModel):
    """Inclusive: `first` to `last`, both reserved and never carried by an event."""

    model_config = ConfigDict(extra="forbid", strict=True)

    first: Number
    last: Number = Field(description=f"at least `first`, at most {MAX_RANGE_NUMBERS:,} numbers")

    @field_validator("last")
    @classmethod
    def _after_first(cls, last: int, info: ValidationInfo) -> int:
        first = info.data.get("first")
        if first is None:  # `first` itself is refused already
            return last
        if last < first:
            raise ValueError(f"must be at least first ({first})")
        if last - first + 1 > MAX_RANGE_NUMBERS:
            raise ValueError(f"a range holds at most {MAX_RANGE_NUMBERS} numbers")
        return last


class UnusedReport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    publisher_id: Slug = Field(description="the calling partner's own id")
    ranges: list[UnusedRange] = Field(min_length=1, max_length=MAX_RANGES)
    reason: ShortText = Field(description="why, on one line, e.g. `publish not confirmed: ...`")


class UnusedRecorded(BaseModel):
    publisher_id: str
    ranges: int = Field(description="ranges recorded")
    numbers: int = Field(description="distinct numbers the ranges cover")


async def unused_report(
    request: Request, settings: AppSettings, _partner: PartnerCaller
) -> UnusedReport:
    """The posted report, read only once the caller is known to be a partner.

    Read by hand, not as a FastAPI body parameter: FastAPI parses such a body
    before any dependency runs, so a request without a token but with broken
    JSON would get a 422 instead of its 401.
    """
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        message = f"the body must be JSON (Content-Type: application/json), not {content_type!r}"
        raise Refused(415, "unsupported_media_type", message)
    body = decode_json(await read_limited(request, settings.ingest_max_bytes))
    try:
        return UnusedReport.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        ) from exc


def _body_schema() -> dict[str, Any]:
    """UnusedReport's JSON Schema with its range inlined (OpenAPI resolves `$ref` from the top)."""
    schema = UnusedReport.model_json_schema()
    schema["properties"]["ranges"]["items"] = schema.pop("$defs")["UnusedRange"]
    return {"required": True, "content": {"application/json": {"schema": schema}}}


@router.post(
    "/unused",
    status_code=201,
    summary="Record your own unused sequence numbers",
    description=(
        "For partners publishing straight to Kafka: numbers reserved and never carried by an "
        "event (a publish the broker did not confirm, a crashed client) are recorded with the "
        "reason, and `refnet audit verify` lists them as unused, not missing. Only a partner "
        "token, only for its own `publisher_id` (else 403). A number recorded here that is on "
        "the log after all counts as used; recording a range twice does no harm."
    ),
    openapi_extra={"requestBody": _body_schema()},
    responses={
        **ERROR_RESPONSES,
        **BODY_ERRORS,
        403: {"model": ErrorBody, "description": "not a partner token, or not its own id"},
    },
)
async def post_unused(
    partner_id: PartnerCaller,
    report: Annotated[UnusedReport, Depends(unused_report)],
    settings: AppSettings,
    conn: Conn,
) -> UnusedRecorded:
    """Record the calling partner's reserved and never used sequence numbers."""
    own_publisher(partner_id, report.publisher_id, settings.gateway_publisher_id)
    spans = [(r.first, r.last) for r in report.ranges]
    await record_unused(conn, report.publisher_id, spans, report.reason)
    return UnusedRecorded(
        publisher_id=report.publisher_id, ranges=len(spans), numbers=distinct_numbers(spans)
    )
