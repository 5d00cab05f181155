"""Read-side queries: every count of PRODUCT.md's "How outcomes are counted", from the rows.

The fold decided which facts count (retractions, "first", one answer per
referral); these queries only filter by period, group and count. `$1`/`$2`
are the period bounds (`from` inclusive, `to` exclusive, NULL for open).

A withdrawn referral keeps a row (state 'withdrawn') for its sender's outbox
only: every count and every other list leaves it out. "Overdue" is judged at
query time: pending, and sent longer ago than the overdue limit.
"""

from __future__ import annotations

from typing import Literal

from refnet.projections.store.database import Conn
from refnet.projections.store.views import (
    CaseloadEntry,
    InboxEntry,
    NetworkOutcomes,
    OutboxEntry,
    PartnerOutcomes,
    Period,
    Placed,
    ReferralEntry,
    Referrals,
    ReferralState,
    RejectionEntry,
    SiteOutcomes,
    ratio,
)

"""The overdue limit when the caller has no settings at hand."""

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
_CASELOAD = """
SELECT p.participant_id, p.site, array_agg(l.role ORDER BY l.role) AS roles, min(l.since) AS since,
  p.first_enrolled_at, p.placed_at, p.placement_kind, p.exited_at,
  EXISTS (SELECT 1 FROM trainings t WHERE t.participant_id = p.participant_id
          AND t.ended_at IS NULL) AS in_training
FROM partner_links l JOIN participants p USING (participant_id)
WHERE l.partner_id = $1
GROUP BY p.participant_id ORDER BY min(l.since), p.participant_id
LIMIT $2 OFFSET $3
"""
_REFERRAL_LIST = """
SELECT participant_id, referral_id, from_partner, to_partner, service, site, sent_at, state,
  answered_at, decline_reason,
  extract(epoch FROM coalesce(answered_at, now()) - sent_at) / 86400 AS age_days
FROM referrals WHERE {side} = $1 AND state <> 'withdrawn'
ORDER BY (state = 'pending') DESC, sent_at, referral_id
LIMIT $2 OFFSET $3
"""
_RECEIVED = _REFERRAL_LIST.format(side="to_partner")
_SENT = _REFERRAL_LIST.format(side="from_partner")
# Ages never go below zero, even for a sent_at a publisher put in the future.
_INBOX = f"""
SELECT referral_id, participant_id, from_partner, service, site, sent_at,
  greatest(0, extract(epoch FROM now() - sent_at) / 86400) AS age_days,
  {_OVERDUE.format(n=2)} AS overdue
FROM referrals WHERE to_partner = $1 AND state = 'pending'
ORDER BY sent_at, referral_id, participant_id
LIMIT $3 OFFSET $4
"""
_OUTBOX = f"""
SELECT referral_id, participant_id, to_partner, service, site, sent_at, state, answered_at,
  decline_reason, withdrawn_at,
  greatest(0, extract(epoch FROM coalesce(answered_at, withdrawn_at, now()) - sent_at) / 86400)
    AS age_days,
  {_OVERDUE.format(n=2)} AS overdue
FROM referrals WHERE from_partner = $1 AND (state = $3 OR $3 IS NULL)
ORDER BY sent_at DESC, referral_id, participant_id
LIMIT $4 OFFSET $5
"""
_REJECTIONS = """
SELECT event_id, type, participant_id, reason, occurred_at, recorded_at, rejected_at
FROM rejections WHERE partner_id = $1
ORDER BY recorded_at DESC, event_id
LIMIT $2 OFFSET $3
"""


def _days(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


async def network_outcomes(conn: Conn, period: Period, overdue_days: int) -> NetworkOutcomes:
    """Every network count of PRODUCT.md for `period`, from the read model."""
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


async def caseload(
    conn: Conn, partner_id: str, limit: int = 500, offset: int = 0
) -> list[CaseloadEntry]:
    """Participants the partner enrolled, accepted by referral, or placed."""
    rows = await conn.fetch(_CASELOAD, partner_id, limit, offset)
    return [CaseloadEntry(**dict(r)) for r in rows]


async def referrals(
    conn: Conn,
    partner_id: str,
    direction: Literal["inbox", "outbox"],
    limit: int = 500,
    offset: int = 0,
) -> list[ReferralEntry]:
    """Referrals the partner received (inbox) or sent (outbox); pending first, oldest first."""
    sql = _RECEIVED if direction == "inbox" else _SENT
    rows = await conn.fetch(sql, partner_id, limit, offset)
    return [ReferralEntry(**{**dict(r), "age_days": round(float(r["age_days"]), 1)}) for r in rows]


async def inbox(
    conn: Conn,
    partner_id: str,
    overdue_days: int,
    limit: int = 500,
    offset: int = 0,
) -> list[InboxEntry]:
    """Referrals to the partner that wait for its answer, oldest first."""
    rows = await conn.fetch(_INBOX, partner_id, overdue_days, limit, offset)
    return [InboxEntry(**{**dict(r), "age_days": round(float(r["age_days"]), 1)}) for r in rows]


async def outbox(
    conn: Conn,
    partner_id: str,
    overdue_days: int,
    state: ReferralState | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[OutboxEntry]:
    """Referrals the partner sent, withdrawn ones included, newest first."""
    rows = await conn.fetch(_OUTBOX, partner_id, overdue_days, state, limit, offset)
    return [OutboxEntry(**{**dict(r), "age_days": round(float(r["age_days"]), 1)}) for r in rows]


async def rejections(
    conn: Conn, partner_id: str, limit: int = 500, offset: int = 0
) -> list[RejectionEntry]:
    """Events the partner emitted that broke a rule, newest recorded first."""
    rows = await conn.fetch(_REJECTIONS, partner_id, limit, offset)
    return [RejectionEntry(**dict(r)) for r in rows]
