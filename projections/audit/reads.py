"""The auditor's reads of the read model: folded states for as-of outcomes, one timeline.

The API answers from the states the projection stored (the same fold of the
same log), so it needs no pass over Kafka per request; `refnet audit replay`
answers from the log itself, and `refnet audit verify` proves the two agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from refnet.projections.audit.asof import TimeBasis, outcomes_as_of
from refnet.projections.audit.timeline import Timeline, timeline
from refnet.projections.fold.rows import RejectionRow
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store.database import Conn
from refnet.projections.store.views import NetworkOutcomes

_STATES = "SELECT participant_id, facts::text FROM participant_state"
_STATE = "SELECT facts::text FROM participant_state WHERE participant_id = $1"
_REJECTIONS = """
SELECT event_id, partner_id, participant_id, type, reason, occurred_at, recorded_at,
  partition, "offset"
FROM rejections WHERE participant_id = $1
"""
_RECORD_READ = """
INSERT INTO record_reads (token_id, role, partner_id, participant_id, what)
VALUES ($1, $2, $3, $4, $5)
"""


async def _states(conn: Conn) -> AsyncIterator[ParticipantState]:
    """Every stored state, streamed (a cursor needs the caller's transaction)."""
    async for row in conn.cursor(_STATES, prefetch=1000):
        yield ParticipantState.from_json(row["participant_id"], row["facts"])


async def stored_outcomes_as_of(
    conn: Conn, as_of: datetime, basis: TimeBasis, overdue_days: int
) -> NetworkOutcomes:
    """As-of outcomes over the stored states, read in one consistent snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        states = [state async for state in _states(conn)]
    return outcomes_as_of(states, as_of, basis, overdue_days)


async def stored_timeline(conn: Conn, participant_id: str) -> Timeline | None:
    """The participant's timeline from the stored state; None if no event names them."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        facts = await conn.fetchval(_STATE, participant_id)
        rows = await conn.fetch(_REJECTIONS, participant_id)
    if facts is None and not rows:
        return None
    state = ParticipantState.from_json(participant_id, facts or '{"facts":[],"rejected":[]}')
    rejected = [
        RejectionRow(
            **{
                **dict(r),
                "occurred_at": _text(r["occurred_at"]),
                "recorded_at": _text(r["recorded_at"]),
            }
        )
        for r in rows
    ]
    return timeline(state, rejected)


def _text(value: datetime) -> str:
    return value.isoformat()


async def record_read(
    conn: Conn, token_id: str, role: str, partner_id: str | None, participant_id: str, what: str
) -> None:
    """Note that a person read one participant's record: who, when, what."""
    await conn.execute(_RECORD_READ, token_id, role, partner_id, participant_id, what)
