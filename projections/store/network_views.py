"""The coordinator's network views (funnel, referral flows, monthly series) and follow-ups due.

Like queries.py these only filter, group and count what the fold derived: it
already decided retractions, "first" and the one answer per referral. `$1`/`$2`
are the period bounds (`from` inclusive, `to` exclusive, NULL for open).
The API routes and the dashboard both call these functions, so each count exists once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import MAXYEAR, date, datetime, time, timedelta
from typing import Final

from refnet.projections.fold.derive import FOLLOWUP_WINDOW_DAYS
from refnet.projections.store.count_reads import (
    BERLIN,
    EARLIEST,
    LATEST,
    Window,
    day_start,
    grouped,
    medians,
    snapshot,
    total,
    window_sums,
)
from refnet.projections.store.counts import (
    ACCEPTED,
    PLACED,
    REFERRAL_STATES,
    REFERRED,
    TIMEZONE,
    TRAINING_STARTED,
)
from refnet.projections.store.database import Conn
from refnet.projections.store.queries import _days
from refnet.projections.store.schema import COUNTS
from refnet.projections.store.views import (
    FollowUpDue,
    FollowUpStatus,
    Funnel,
    FunnelStage,
    FunnelStageName,
    MonthlyOutcomes,
    MonthOutcomes,
    Period,
    ReferralFlow,
    ReferralFlows,
    ratio,
)

MAX_MONTHS: Final = 1200
"""The longest monthly series answered (a hundred years): a wider one is a typo in a bound."""
# The six-month window, 150 to 240 days after the leaving date: the fold's own rule.
FOLLOW_UP_OPENS_DAYS, FOLLOW_UP_CLOSES_DAYS = FOLLOWUP_WINDOW_DAYS

FUNNEL_STAGES: Final[tuple[FunnelStageName, ...]] = (
    "enrolled",
    "referred",
    "accepted",
    "training_started",
    "placed",
)

# Hours, not days: `timestamptz + interval 'n days'` follows the connection's TimeZone
# setting's daylight saving, while the fold's window is 150 x 24 hours after leaving.
_WINDOW = "((p.exited_at + interval '{hours} hours') AT TIME ZONE '" + TIMEZONE + "')::date"
_FOLLOW_UPS = f"""
WITH due AS (
  SELECT p.participant_id, p.site, p.exited_at, p.leaving_situation,
    {_WINDOW.format(hours=FOLLOW_UP_OPENS_DAYS * 24)} AS opens_on,
    {_WINDOW.format(hours=FOLLOW_UP_CLOSES_DAYS * 24)} AS closes_on
  FROM (SELECT DISTINCT participant_id FROM partner_links WHERE partner_id = $1) l
  JOIN participants p USING (participant_id)
  WHERE p.enrolled AND p.exited_at IS NOT NULL AND p.followup_situation IS NULL
)
SELECT participant_id, site, exited_at, leaving_situation, opens_on, closes_on,
  CASE WHEN closes_on < $2 THEN 'overdue' ELSE 'open' END AS status
FROM due
WHERE opens_on <= $2 AND ($3::text IS NULL OR (closes_on < $2) = ($3 = 'overdue'))
ORDER BY closes_on, exited_at, participant_id
LIMIT $4 OFFSET $5
"""


_STAGE_BITS: Final = {
    "referred": REFERRED,
    "accepted": ACCEPTED,
    "training_started": TRAINING_STARTED,
    "placed": PLACED,
}


class MonthRangeError(ValueError):
    """A monthly series that cannot be drawn: too many months, or beyond the calendar."""


async def network_funnel(conn: Conn, period: Period) -> Funnel:
    """The participants first enrolled in `period`, and how many reached each stage.

    Each participant counts once however often enrolled. A stage is reached when
    it happened at any time (up to now, also after the period's end): referred
    (a referral sent that its sender did not withdraw), accepted (a referral
    accepted), training_started, placed. Each share is of those enrolled.
    """
    async with snapshot(conn):
        (counted,) = await window_sums(conn, [Window(period.from_, period.to, ("cohort",))])
    stages_reached = grouped(counted, "cohort", "bin")
    enrolled = sum(stages_reached.values())
    reached = {"enrolled": enrolled} | {
        name: sum(n for stages, n in stages_reached.items() if stages & bit)
        for name, bit in _STAGE_BITS.items()
    }
    return funnel_of(period, reached)


def funnel_of(period: Period, reached: Mapping[str, int]) -> Funnel:
    """The funnel from how many of the cohort reached each stage (`enrolled`: all of it)."""
    enrolled = reached["enrolled"]
    stages = [
        FunnelStage(stage=name, participants=reached[name], share=ratio(reached[name], enrolled))
        for name in FUNNEL_STAGES
    ]
    return Funnel(period=period, enrolled=enrolled, stages=stages)


async def referral_flows(conn: Conn, period: Period) -> ReferralFlows:
    """Referrals sent in `period` per (from partner, to partner), withdrawn ones left out.

    Each cell counts sent, accepted, declined and pending by the first answer
    alone, with its acceptance rate and median days to answer. `partners` lists
    every partner in a cell, sorted, for the matrix's rows and columns.
    """
    async with snapshot(conn):
        (counted,) = await window_sums(
            conn, [Window(period.from_, period.to, ("flows", "flow.answer.days"))]
        )
        cells: dict[tuple[str, str], dict[int, int]] = {}
        answer_bins: dict[tuple[str, ...], dict[int, int]] = {}
        for (measure, sender, receiver, value_bin), n in counted.items():
            into = cells if measure == "flows" else answer_bins
            into.setdefault((sender, receiver), {})[value_bin] = n
        middle = await medians(conn, "flow", period.from_, period.to, answer_bins)
    flows = [
        _flow(sender, receiver, states, middle.get((sender, receiver)))
        for (sender, receiver), states in sorted(cells.items())
        if sum(states.values()) > 0
    ]
    partners = sorted({f.from_partner for f in flows} | {f.to_partner for f in flows})
    return ReferralFlows(period=period, partners=partners, flows=flows)


def _flow(sender: str, receiver: str, states: dict[int, int], days: float | None) -> ReferralFlow:
    accepted, declined = (states.get(REFERRAL_STATES[s], 0) for s in ("accepted", "declined"))
    return ReferralFlow(
        from_partner=sender,
        to_partner=receiver,
        sent=sum(states.values()),
        accepted=accepted,
        declined=declined,
        pending=states.get(REFERRAL_STATES["pending"], 0),
        acceptance_rate=ratio(accepted, accepted + declined),
        median_days_to_answer=_days(days),
    )


async def monthly_outcomes(conn: Conn, period: Period) -> MonthlyOutcomes:
    """Enrolments, placements and exits in `period` per calendar month in Europe/Berlin.

    Enrolments are participants by their first enrolment, placements by their
    first placement, exits by their first exit (the leaving date). The months run
    from the one holding `from` to the one holding the last instant before `to`;
    an open bound takes the first or last month with a count. Months without one
    are listed with zeros. Periods are instants, so a bound at UTC midnight leaves
    the month it cuts `partial`; bounds at Berlin midnight give whole months.
    Raises MonthRangeError for more than MAX_MONTHS months.
    """
    async with snapshot(conn):
        counted = await _monthly_counts(conn, period)
    return series_of(period, {m: {_FIELDS[k]: n for k, n in c.items()} for m, c in counted.items()})


_FIELDS = {"cohort": "enrolments", "placed": "placements", "exits": "exits"}


def series_of(period: Period, counted: Mapping[int, Mapping[str, int]]) -> MonthlyOutcomes:
    """The monthly series from the counts of the months with any (month index: field: n)."""
    first, last = _month_range(period, list(counted))
    if first is None or last is None:  # both bounds open and nothing counted
        return MonthlyOutcomes(period=period, timezone=TIMEZONE, months=[])
    months = []
    for index in range(first, last + 1):
        row = counted.get(index, {})
        months.append(
            MonthOutcomes(
                month=_month(index),
                enrolments=row.get("enrolments", 0),
                placements=row.get("placements", 0),
                exits=row.get("exits", 0),
                partial=_partial(period, index, first, last),
            )
        )
    return MonthlyOutcomes(period=period, timezone=TIMEZONE, months=months)


async def follow_ups_due(
    conn: Conn,
    partner_id: str,
    today: date | None = None,
    status: FollowUpStatus | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[FollowUpDue]:
    """The partner's exited participants whose six-month follow-up is open or missed.

    Participants the partner is linked to (enrolled, accepted by referral or
    placed) whose window (150 to 240 days after the leaving date, as dates in
    Europe/Berlin) has opened by `today` (default: today in Berlin) and who have
    no follow-up in it. `open` while the window runs, `overdue` once it closed;
    soonest closing first.
    """
    day = today or datetime.now(BERLIN).date()
    rows = await conn.fetch(_FOLLOW_UPS, partner_id, day, status, limit, offset)
    return [FollowUpDue(**dict(r)) for r in rows]


# ------------------------------------------------------------------ months


_MONTH_INDEX = "(extract(year FROM day) * 12 + extract(month FROM day) - 1)::integer"
_MONTH_ROWS = f"""
SELECT {_MONTH_INDEX} AS month, measure, sum(n)::bigint AS n FROM {COUNTS}
WHERE span = 'month' AND measure = ANY($1::text[]) AND {_MONTH_INDEX} BETWEEN $2 AND $3
GROUP BY 1, 2 HAVING sum(n) <> 0
"""
_SERIES = ("cohort", "placed", "exits")  # enrolments, placements, exits
_NO_MONTH = 2**31 - 1


async def _monthly_counts(conn: Conn, period: Period) -> dict[int, dict[str, int]]:
    """The series' counts per month with any: whole months from the month rows, a
    month a bound cuts from its part of the period."""
    try:
        start = _month_of(period.from_) if period.from_ else -_NO_MONTH
        end = _month_of(period.to - timedelta(microseconds=1)) if period.to else _NO_MONTH
        cut = [
            month
            for month, bound in ((start, period.from_), (end, period.to))
            if bound is not None and not _at_month_start(bound)
        ]
        windows = [
            Window(
                max([b for b in (period.from_, _month_start(month)) if b], default=EARLIEST),
                min([b for b in (period.to, _month_start(month + 1)) if b], default=LATEST),
                _SERIES,
            )
            for month in sorted(set(cut))
        ]
    except (OverflowError, ValueError) as exc:
        raise MonthRangeError(f"the period is outside the calendar in {TIMEZONE}") from exc
    whole = (start + (start in cut), end - (end in cut))
    counted: dict[int, dict[str, int]] = {}
    for r in await conn.fetch(_MONTH_ROWS, list(_SERIES), *whole):
        counted.setdefault(r["month"], {})[r["measure"]] = r["n"]
    for month, sums in zip(sorted(set(cut)), await window_sums(conn, windows), strict=True):
        if any(sums.values()):
            counted[month] = {m: total(sums, m) for m in _SERIES}
    return counted


def _month_start(index: int) -> datetime | None:
    """The instant month `index` begins in Berlin, in UTC; None outside the calendar."""
    try:
        return day_start(_month(index))
    except (OverflowError, ValueError):
        return None


def _month_of(at: datetime) -> int:
    """The month holding `at` in Berlin, as year * 12 + month - 1."""
    local = at.astimezone(BERLIN)
    return local.year * 12 + local.month - 1


def _month_range(period: Period, counted: list[int]) -> tuple[int | None, int | None]:
    """The first and last month of the series; MonthRangeError when it cannot be drawn."""
    try:
        first = _month_of(period.from_) if period.from_ else min(counted, default=None)
        end = period.to - timedelta(microseconds=1) if period.to else None
        last = _month_of(end) if end else max(counted, default=None)
    except (OverflowError, ValueError) as exc:
        raise MonthRangeError(f"the period is outside the calendar in {TIMEZONE}") from exc
    first, last = first if first is not None else last, last if last is not None else first
    if first is None or last is None:
        return None, None
    if last - first >= MAX_MONTHS:
        raise MonthRangeError(
            f"the period spans {last - first + 1} months; at most {MAX_MONTHS} are shown"
        )
    if last // 12 > MAXYEAR:  # an event in the last hour of 9999 (UTC)
        raise MonthRangeError(f"the period reaches past the calendar in {TIMEZONE}")
    return first, last


def _month(index: int) -> date:
    year, month = divmod(index, 12)
    return date(year, month + 1, 1)


def _partial(period: Period, month: int, first: int, last: int) -> bool:
    """Whether a bound cuts `month`: only the first and the last month can be cut."""
    cut_at_start = month == first and period.from_ is not None and not _at_month_start(period.from_)
    cut_at_end = month == last and period.to is not None and not _at_month_start(period.to)
    return cut_at_start or cut_at_end


def _at_month_start(at: datetime) -> bool:
    try:
        local = at.astimezone(BERLIN)
    except OverflowError:
        return False
    return local.day == 1 and local.time() == time(0)
