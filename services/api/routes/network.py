"""Coordinator views of the whole network: outcome counts for a period.

Periods are half-open, `from` inclusive and `to` exclusive, and always in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator

from refnet.projections.store.queries import network_outcomes
from refnet.projections.store.views import NetworkOutcomes, Period
from refnet.services.api.deps import AppSettings, Conn, CoordinatorOrAuditor
from refnet.services.api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/network", tags=["network"], responses=ERROR_RESPONSES)

BOUND_HELP = (
    "an ISO 8601 date (`2025-01-01`, meaning its midnight) or date-time; a value without an "
    "offset is taken as UTC"
)


_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _iso_only(value: object) -> object:
    # Pydantic reads a number as seconds since 1970; a bound is a calendar date or time.
    if isinstance(value, str) and _NUMBER.match(value):
        raise ValueError("expected an ISO 8601 date or date-time, not a number")
    return value


Bound = Annotated[datetime | None, BeforeValidator(_iso_only)]


def utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        problem = {"type": "value_error", "loc": ("query", name), "input": value.isoformat()}
        raise RequestValidationError([{**problem, "msg": "outside the calendar in UTC"}]) from None


def period(
    from_: Annotated[
        Bound, Query(alias="from", description=f"start, inclusive: {BOUND_HELP}")
    ] = None,
    to: Annotated[Bound, Query(description=f"end, exclusive: {BOUND_HELP}")] = None,
) -> Period:
    """The period of the query string; 422 naming `to` unless it ends after it starts."""
    start, end = utc(from_, "from"), utc(to, "to")
    if start is not None and end is not None and start >= end:
        problem = {"type": "value_error", "loc": ("query", "to"), "input": to}
        raise RequestValidationError([{**problem, "msg": "must be later than `from`"}])
    return Period.model_validate({"from": start, "to": end})


@router.get("/outcomes")
async def read_outcomes(
    _: CoordinatorOrAuditor,
    conn: Conn,
    settings: AppSettings,
    period: Annotated[Period, Depends(period)],
) -> NetworkOutcomes:
    """Participants, placements, training and referrals in a period, by site and partner.

    `referrals.overdue` counts the period's referrals still pending past the overdue limit.
    """
    return await network_outcomes(conn, period, settings.referral_overdue_days)
