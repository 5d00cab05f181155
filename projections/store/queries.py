"""Read-side queries: every count of PRODUCT.md's "How outcomes are counted", from the rows.

The fold decided which facts count (retractions, "first", one answer per
referral); these queries only filter by period, group and count. `$1`/`$2`
are the period bounds (`from` inclusive, `to` exclusive, NULL for open).

A withdrawn referral keeps a row (state 'withdrawn') for its sender's outbox
only: every count and every other list leaves it out. "Overdue" is judged at
query time: pending, and sent longer ago than the overdue limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from refnet.projections.store.count_reads import (
    Key,
    Window,
    grouped,
    listed,
    median,
    snapshot,
    total,
    window_sums,
)
from refnet.projections.store.counts import REFERRAL_STATES
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

# $n: the overdue limit in days.
_OVERDUE = "(state = 'pending' AND sent_at < now() - make_interval(days => ${n}))"
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
    """Every network count of PRODUCT.md for `period`, from the kept counts.

    Participants by first enrolment and placements by first placement in the
    period; referrals by sending (withdrawn ones never sent), overdue when pending
    longer than `overdue_days` up to now; in training at the period's end (now,
    for an open one); every site with an enrolled participant and every linked
    partner listed, with zeros.
    """
    async with snapshot(conn):
        now: datetime = await conn.fetchval("SELECT now()")
        cut = now - timedelta(days=overdue_days)
        late = min(period.to, cut) if period.to else cut
        counted, at_end, overdue = await window_sums(
            conn,
            [
                Window(period.from_, period.to, _OUTCOME_MEASURES),
                Window(None, period.to, ("training.start", "training.end")),
                Window(period.from_, late, ("referrals",)),
            ],
        )
        bins = grouped(counted, "placement.days", "bin")
        placement_days = await median(conn, "placement", period.from_, period.to, bins)
        bins = grouped(counted, "answer.days", "bin")
        answer_days = await median(conn, "answer", period.from_, period.to, bins)
    return _outcomes(period, counted, at_end, overdue, placement_days, answer_days)


_OUTCOME_MEASURES = (
    "site.participants", "placed", "placement.days", "referrals", "answer.days",
    "partner.participants", "partner.placed", "sites", "partners",
)  # fmt: skip
_STATE = {state: {"bin": code} for state, code in REFERRAL_STATES.items()}


def _outcomes(
    period: Period,
    counted: dict[Key, int],
    at_end: dict[Key, int],
    overdue: dict[Key, int],
    placement_days: float | None,
    answer_days: float | None,
) -> NetworkOutcomes:
    participants = total(counted, "site.participants")
    placed = total(counted, "placed")
    accepted = total(counted, "referrals", **_STATE["accepted"])
    declined = total(counted, "referrals", **_STATE["declined"])
    enrolled_by_site = grouped(counted, "site.participants", "a")
    placed_by_site = grouped({k: n for k, n in counted.items() if k[3] == 1}, "placed", "b")
    by_partner = (grouped(counted, m, "a") for m in ("partner.participants", "partner.placed"))
    partner_participants, partner_placed = by_partner
    return NetworkOutcomes(
        period=period,
        participants=participants,
        placed=Placed(
            total=placed,
            apprenticeship=total(counted, "placed", a="apprenticeship"),
            employment=total(counted, "placed", a="employment"),
        ),
        placement_rate=ratio(placed, participants),
        in_training=total(at_end, "training.start") - total(at_end, "training.end"),
        referrals=Referrals(
            sent=total(counted, "referrals"),
            accepted=accepted,
            declined=declined,
            pending=total(counted, "referrals", **_STATE["pending"]),
            overdue=total(overdue, "referrals", **_STATE["pending"]),
            acceptance_rate=ratio(accepted, accepted + declined),
            median_days_to_answer=_days(answer_days),
        ),
        median_days_to_placement=_days(placement_days),
        by_site=[
            SiteOutcomes(
                site=site, participants=enrolled_by_site[site], placed=placed_by_site[site]
            )
            for site in listed(counted, "sites")
        ],
        by_partner=[
            PartnerOutcomes(
                partner_id=partner,
                participants=partner_participants[partner],
                placed=partner_placed[partner],
            )
            for partner in listed(counted, "partners")
        ],
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
