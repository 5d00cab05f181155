"""The one place where failures become HTTP responses, all in the same JSON shape.

Every error body is `{"error": {"code", "message", "fields": [{"field", "reason"}]}}`;
`fields` names each bad input by the name the client used (`from`, `direction`, ...).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from refnet.events.errors import EventInvalid, EventUndecodable, RefNetError
from refnet.projections.store.database import StoreUnavailable
from refnet.services.api import metrics
from refnet.services.gateway.refusals import Refused

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}
# Where a request part is named in a validation error's `loc`; dropped from field names.
_LOCATIONS = {"query", "path", "header", "cookie", "body"}


class FieldProblem(BaseModel):
    field: str = Field(description="the input as the client named it, e.g. `from` or `to`")
    reason: str
    index: int | None = Field(None, description="which event of a posted batch (from 0)")
    event_id: str | None = Field(None, description="that event's id, when it has one")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable, e.g. `forbidden`, `invalid_request`")
    message: str = Field(description="for people")
    fields: list[FieldProblem] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "no bearer token, or an unknown, expired or revoked one"),
        (403, "the token's role may not read this"),
        (422, "invalid parameters; `fields` names each one"),
        (503, "the database is unavailable; retry after `Retry-After` seconds"),
    )
}
"""OpenAPI `responses` for routes: the errors every authenticated read may answer."""

BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not UTF-8 JSON"},
    413: {"model": ErrorBody, "description": "more than `REFNET_INGEST_MAX_BYTES` bytes"},
    415: {"model": ErrorBody, "description": "a Content-Type other than JSON"},
}
"""OpenAPI `responses` of a route that reads a JSON body."""


class ErrorJSONResponse(JSONResponse):
    """JSON that survives what a client sent being quoted back.

    A JSON body may hold a lone surrogate (`"\\ud800"` is valid JSON); an error that
    names such a value cannot be encoded as UTF-8, so the character becomes `?`
    instead of the error becoming a 500.
    """

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", errors="replace")


def error_response(
    status: int,
    code: str,
    message: str,
    fields: Sequence[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, fields=list(fields)))
    return ErrorJSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


def field_name(loc: Sequence[int | str]) -> str:
    """`("query", "from")` -> `from`; `("body", "events", 0, "site")` -> `events.0.site`."""
    parts = list(loc[1:] if loc and loc[0] in _LOCATIONS else loc)
    return ".".join(str(p) for p in parts) or "request"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [FieldProblem(field=field_name(e["loc"]), reason=e["msg"]) for e in exc.errors()]
    names = ", ".join(dict.fromkeys(f.field for f in fields))
    return error_response(422, "invalid_request", f"invalid request: {names}", fields)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    metrics.refused("store_unavailable")
    log.warning("read model unavailable: %s", exc)
    return error_response(
        503,
        "store_unavailable",
        "the read model's database is unavailable; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _event_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EventInvalid)
    metrics.refused("event_invalid")
    fields = [FieldProblem(field=p.field, reason=p.reason) for p in exc.problems]
    return error_response(422, "event_invalid", "the event is not valid", fields)


async def _event_undecodable(_: Request, exc: Exception) -> JSONResponse:
    metrics.refused("event_undecodable")
    return error_response(400, "event_undecodable", str(exc))


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    metrics.refused(exc.code)
    fields = [
        FieldProblem(field=p.field, reason=p.reason, index=p.index, event_id=p.event_id)
        for p in exc.problems
    ]
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(exc.status, exc.code, exc.message, fields, headers)


async def _refnet_error(_: Request, exc: Exception) -> JSONResponse:
    # A deliberate error no handler above claims is still a bug here: log it,
    # and tell the client nothing about the internals.
    log.error("unhandled RefNet error", exc_info=exc)
    return _internal()


async def _crash(_: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this response, so the server logs the traceback.
    return _internal()


def _internal() -> JSONResponse:
    return error_response(500, "internal", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler; the most specific exception class wins."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(EventInvalid, _event_invalid)
    app.add_exception_handler(EventUndecodable, _event_undecodable)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RefNetError, _refnet_error)
    app.add_exception_handler(Exception, _crash)
