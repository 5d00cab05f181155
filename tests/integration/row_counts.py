"""The coordinator's counts over the rows themselves: the oracle the kept counts are held to.

These are the plain SQL countings the views made before the projection kept
its counts (`projections/store/counts.py`); a test holds the views equal to
them over many periods, so a kept count that drifts from its rows is caught.
"""

from __future__ import annotations

from refnet.projections.store.counts import TIMEZONE
from refnet.projections.store.database import Conn
from refnet.projections.store.network_views import funnel_of, series_of
from refnet.projections.store.queries import _days
from refnet.projections.store.views import (
    Funnel,
    MonthlyOutcomes,
    NetworkOutcomes,
    PartnerOutcomes,
    Period,
    Placed,
    ReferralFlow,
    ReferralFlows,
    Referrals,
    SiteOutcomes,
    ratio,
)

_IN = "{col} IS NOT NULL AND ({col} >= $1 OR $1 IS NULL) AND ({col} < $2 OR $2 IS NULL)"
_ENROLLED_IN = _IN.format(col="first_enrolled_at")
_PLACED_IN = _IN.format(col="placed_at")

_TOTALS = f"""
SELECT
  count(*) FILTER (WHERE enrolled AND {_ENROLLED_IN}) AS participants,
  count(*) FILTER (WHERE {_PLACED_IN}) AS placed,
  count(*) FILTER (WHERE {_PLACED_IN} AND placement_kind = 'apprenticeship') AS apprenticeship,
  count(*) FILTER (WHERE {_PLACED_IN} AND placement_kind = 'employment') AS employment,
  percentile_cont(0.5) WITHIN GROUP (
    ORDER BY extract(epoch FROM placed_at - first_enrolled_at) / 86400
  ) FILTER (WHERE enrolled AND {_PLACED_IN}) AS median_days_to_placement
FROM participants
"""
# In training at the period's end ($1; now, for an open period).
_IN_TRAINING = """
SELECT count(DISTINCT participant_id) FROM trainings
WHERE ($1::timestamptz IS NULL AND ended_at IS NULL)
   OR ($1 IS NOT NULL AND started_at < $1 AND (ended_at IS NULL OR ended_at >= $1))
"""
# $n: the overdue limit in days.
_OVERDUE = "(state = 'pending' AND sent_at < now() - make_interval(days => ${n}))"
_REFERRALS = f"""
SELECT
  count(*) AS sent,
  count(*) FILTER (WHERE state = 'accepted') AS accepted,
  count(*) FILTER (WHERE state = 'declined') AS declined,
  count(*) FILTER (WHERE state = 'pending') AS pending,
  count(*) FILTER (WHERE {_OVERDUE.format(n=3)}) AS overdue,
  percentile_cont(0.5) WITHIN GROUP (
    ORDER BY extract(epoch FROM answered_at - sent_at) / 86400
  ) FILTER (WHERE answered_at IS NOT NULL) AS median_days_to_answer
FROM referrals WHERE state <> 'withdrawn' AND {_IN.format(col="sent_at")}
"""
_BY_SITE = f"""
SELECT site,
  count(*) FILTER (WHERE {_ENROLLED_IN}) AS participants,
  count(*) FILTER (WHERE {_PLACED_IN}) AS placed
FROM participants WHERE enrolled GROUP BY site ORDER BY site
"""
_BY_PARTNER = f"""
SELECT l.partner_id,
  count(DISTINCT l.participant_id) FILTER (
    WHERE l.role IN ('enrolled', 'accepted') AND p.enrolled AND {_ENROLLED_IN}
  ) AS participants,
  count(DISTINCT l.participant_id) FILTER (WHERE l.role = 'placed' AND {_PLACED_IN}) AS placed
FROM partner_links l JOIN participants p USING (participant_id)
GROUP BY l.partner_id ORDER BY l.partner_id
"""
_COHORT = f"enrolled AND {_ENROLLED_IN}"
# A stage counts when it is reached at any time, also after the period: the
# funnel follows a cohort, unlike the period counts of network_outcomes.
_FUNNEL = f"""
SELECT
  count(*) AS enrolled,
  count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM referrals r WHERE r.participant_id = p.participant_id AND r.state <> 'withdrawn'
  )) AS referred,
  count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM referrals r WHERE r.participant_id = p.participant_id AND r.state = 'accepted'
  )) AS accepted,
  count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM trainings t WHERE t.participant_id = p.participant_id
  )) AS training_started,
  count(*) FILTER (WHERE placed_at IS NOT NULL) AS placed
FROM participants p WHERE {_COHORT}
"""
_FLOWS = f"""
SELECT from_partner, to_partner,
  count(*) AS sent,
  count(*) FILTER (WHERE state = 'accepted') AS accepted,
  count(*) FILTER (WHERE state = 'declined') AS declined,
  count(*) FILTER (WHERE state = 'pending') AS pending,
  percentile_cont(0.5) WITHIN GROUP (
    ORDER BY extract(epoch FROM answered_at - sent_at) / 86400
  ) FILTER (WHERE answered_at IS NOT NULL) AS median_days_to_answer
FROM referrals WHERE state <> 'withdrawn' AND {_IN.format(col="sent_at")}
GROUP BY from_partner, to_partner ORDER BY from_partner, to_partner
"""
# Placements are counted as network_outcomes counts `placed` (no enrolment
# condition), so a period's months add up to its `placed.total`; an exit is
# counted only for a participant, as the ESF+ report's `left` is.
_MONTHLY = f"""
WITH counted AS (
  SELECT first_enrolled_at AS at, 'enrolments' AS what FROM participants WHERE {_COHORT}
  UNION ALL
  SELECT placed_at, 'placements' FROM participants WHERE {_PLACED_IN}
  UNION ALL
  SELECT exited_at, 'exits' FROM participants WHERE enrolled AND {_IN.format(col="exited_at")}
)
SELECT month, count(*) FILTER (WHERE what = 'enrolments') AS enrolments,
  count(*) FILTER (WHERE what = 'placements') AS placements,
  count(*) FILTER (WHERE what = 'exits') AS exits
FROM (
  -- A month as year * 12 + month - 1: a date of the year 10000 (the last hour of
  -- 9999 in UTC is in it, in Berlin) could not be read into Python.
  SELECT what, (extract(year FROM local) * 12 + extract(month FROM local) - 1)::int AS month
  FROM (SELECT what, at AT TIME ZONE '{TIMEZONE}' AS local FROM counted) AS here
) AS months GROUP BY month ORDER BY month
"""


async def network_outcomes(conn: Conn, period: Period, overdue_days: int) -> NetworkOutcomes:
    """`network_outcomes` of the views, counted over the rows."""
    bounds = (period.from_, period.to)
    totals = await conn.fetchrow(_TOTALS, *bounds)
    refs = await conn.fetchrow(_REFERRALS, *bounds, overdue_days)
    in_training = await conn.fetchval(_IN_TRAINING, period.to)
    assert totals is not None and refs is not None
    answered = refs["accepted"] + refs["declined"]
    return NetworkOutcomes(
        period=period,
        participants=totals["participants"],
        placed=Placed(
            total=totals["placed"],
            apprenticeship=totals["apprenticeship"],
            employment=totals["employment"],
        ),
        placement_rate=ratio(totals["placed"], totals["participants"]),
        in_training=in_training,
        referrals=Referrals(
            sent=refs["sent"],
            accepted=refs["accepted"],
            declined=refs["declined"],
            pending=refs["pending"],
            overdue=refs["overdue"],
            acceptance_rate=ratio(refs["accepted"], answered),
            median_days_to_answer=_days(refs["median_days_to_answer"]),
        ),
        median_days_to_placement=_days(totals["median_days_to_placement"]),
        by_site=[SiteOutcomes(**dict(r)) for r in await conn.fetch(_BY_SITE, *bounds)],
        by_partner=[PartnerOutcomes(**dict(r)) for r in await conn.fetch(_BY_PARTNER, *bounds)],
    )


async def network_funnel(conn: Conn, period: Period) -> Funnel:
    """`network_funnel` of the views, counted over the rows."""
    row = await conn.fetchrow(_FUNNEL, period.from_, period.to)
    assert row is not None
    return funnel_of(period, dict(row))


async def referral_flows(conn: Conn, period: Period) -> ReferralFlows:
    """`referral_flows` of the views, counted over the rows."""
    rows = await conn.fetch(_FLOWS, period.from_, period.to)
    flows = [
        ReferralFlow(
            from_partner=r["from_partner"],
            to_partner=r["to_partner"],
            sent=r["sent"],
            accepted=r["accepted"],
            declined=r["declined"],
            pending=r["pending"],
            acceptance_rate=ratio(r["accepted"], r["accepted"] + r["declined"]),
            median_days_to_answer=_days(r["median_days_to_answer"]),
        )
        for r in rows
    ]
    partners = sorted({f.from_partner for f in flows} | {f.to_partner for f in flows})
    return ReferralFlows(period=period, partners=partners, flows=flows)


async def monthly_outcomes(conn: Conn, period: Period) -> MonthlyOutcomes:
    """`monthly_outcomes` of the views, counted over the rows."""
    rows = await conn.fetch(_MONTHLY, period.from_, period.to)
    return series_of(period, {r["month"]: dict(r) for r in rows})
