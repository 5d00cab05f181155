"""The auditor's reads of the read model: folded states for as-of outcomes, one timeline,
and the log of who read a person's record.

The API answers from the states the projection stored (the same fold of the
same log), so it needs no pass over Kafka per request; `refnet audit replay`
answers from the log itself, and `refnet audit verify` proves the two agree.
Every read of one participant's record by a person is recorded (`record_read`):
API tokens by their token id and role, the CLI by the operating-system user
(`os:<user>`, role `operator`) with the reason they gave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
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
# `by` names the reader: a token id, an `os:<user>` of the CLI, or a partner id.
_READS = """
SELECT read_id, read_at, token_id, role, partner_id, participant_id, what FROM record_reads
WHERE ($1::text IS NULL OR participant_id = $1)
  AND ($2::text IS NULL OR token_id = $2 OR partner_id = $2)
  AND ($3::timestamptz IS NULL OR read_at >= $3)
  AND ($4::timestamptz IS NULL OR read_at < $4)
ORDER BY read_at, read_id
LIMIT $5 OFFSET $6
"""
OPERATOR_ROLE = "operator"
"""The role a CLI read is recorded with; its reader is `os:<operating-system user>`."""
REASON_MARK = "; reason: "
"""Between the view and the reason a CLI reader gave, in `what`."""


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


async def stored_state(conn: Conn, participant_id: str) -> ParticipantState | None:
    """The participant's folded state as the projection stored it; None if no event names them."""
    facts = await conn.fetchval(_STATE, participant_id)
    return None if facts is None else ParticipantState.from_json(participant_id, facts)


def _text(value: datetime) -> str:
    return value.isoformat()


async def record_read(
    conn: Conn,
    token_id: str,
    role: str,
    partner_id: str | None,
    participant_id: str,
    what: str,
    reason: str | None = None,
) -> None:
    """Note that a person read one participant's record: who, when, what (and why, if told)."""
    recorded = what if reason is None else f"{what}{REASON_MARK}{reason}"
    await conn.execute(_RECORD_READ, token_id, role, partner_id, participant_id, recorded)


async def record_list_read(
    conn: Conn,
    token_id: str,
    role: str,
    partner_id: str | None,
    participant_ids: Sequence[str],
    what: str,
) -> None:
    """Note that a person read a list naming these participants (once each), in `what`."""
    distinct = list(dict.fromkeys(participant_ids))
    if distinct:
        await conn.executemany(
            _RECORD_READ, [(token_id, role, partner_id, pid, what) for pid in distinct]
        )


async def record_operator_read(
    conn: Conn, user: str, participant_id: str, what: str, reason: str
) -> None:
    """Note a CLI read of one participant's record by operating-system user `user`."""
    await record_read(conn, f"os:{user}", OPERATOR_ROLE, None, participant_id, what, reason)


@dataclass(frozen=True)
class RecordRead:
    """One recorded read of a participant's record."""

    read_id: int
    read_at: datetime
    token_id: str  # the API token's id, or `os:<user>` for the CLI
    role: str
    partner_id: str | None
    participant_id: str
    what: str  # the view read; a CLI read carries the reason given after REASON_MARK


async def recorded_reads(
    conn: Conn,
    participant_id: str | None = None,
    by: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[RecordRead]:
    """Recorded reads in the order they happened: of one participant, by one reader
    (token id, `os:<user>` or partner id), from `start` (inclusive) to `end` (exclusive)."""
    rows = await conn.fetch(_READS, participant_id, by, start, end, limit, offset)
    return [RecordRead(**dict(r)) for r in rows]
