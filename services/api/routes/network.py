"""Coordinator views of the whole network: outcome counts, the funnel, referral flows, months.

Periods are half-open, `from` inclusive and `to` exclusive, and always in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator

from refnet.projections.store.network_views import (
    MonthRangeError,
    monthly_outcomes,
    network_funnel,
    referral_flows,
)
from refnet.projections.store.queries import network_outcomes
from refnet.projections.store.views import (
    Funnel,
    MonthlyOutcomes,
    NetworkOutcomes,
    Period,
    ReferralFlows,
)
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


PeriodQuery = Annotated[Period, Depends(period)]


@router.get("/funnel")
async def read_funnel(_: CoordinatorOrAuditor, conn: Conn, period: PeriodQuery) -> Funnel:
    """The participants first enrolled in the period, and how many reached each stage.

    Stages: enrolled, referred, accepted, training_started, placed, each with its
    share of those enrolled. A stage counts when reached at any time, also after
    the period: the funnel follows the period's cohort.
    """
    return await network_funnel(conn, period)


@router.get("/referral-flows")
async def read_referral_flows(
    _: CoordinatorOrAuditor, conn: Conn, period: PeriodQuery
) -> ReferralFlows:
    """Referrals sent in the period from each partner to each other, by their first answer.

    Withdrawn referrals are left out. `partners` orders the matrix's rows and columns.
    """
    return await referral_flows(conn, period)


@router.get("/outcomes/monthly")
async def read_monthly_outcomes(
    _: CoordinatorOrAuditor, conn: Conn, period: PeriodQuery
) -> MonthlyOutcomes:
    """Enrolments, placements and exits per calendar month in Europe/Berlin, for charts.

    Months without any are listed with zeros. Bounds are instants: pass Berlin
    midnights (`2025-01-01T00:00:00+01:00`) for whole months; a month a bound cuts
    is marked `partial`. At most 1200 months; more is a 422.
    """
    try:
        return await monthly_outcomes(conn, period)
    except MonthRangeError as exc:
        given = [name for name, bound in (("from", period.from_), ("to", period.to)) if bound]
        problems = [
            {"type": "value_error", "loc": ("query", name), "msg": str(exc), "input": None}
            for name in given or ["from", "to"]
        ]
        raise RequestValidationError(problems) from exc
