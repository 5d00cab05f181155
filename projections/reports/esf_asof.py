"""The ESF+ report as of an instant, from folded states: the auditor's reproduction.

The states come from a replay of the log (`refnet audit replay --esf`) or from
those the projection stored (`GET /v1/audit/esf`); either way the facts that
count at the instant are chosen by `audit.asof.rows_as_of`, the rows derived by
the fold and counted by `esf_report`, the same function the live report uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from refnet.projections.audit.asof import TimeBasis, rows_as_of
from refnet.projections.audit.replay import Replay
from refnet.projections.fold.rows import ParticipantRow
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.reports.esf import (
    EsfReport,
    EsfTally,
    LogPosition,
    esf_report,
    log_position,
)
from refnet.projections.store.database import Conn
from refnet.projections.store.schema import PROJECTION, READ_OFFSETS
from refnet.projections.store.views import Period

_STATES = "SELECT participant_id, facts::text FROM participant_state"


def _participants(
    states: Iterable[ParticipantState], as_of: datetime, basis: TimeBasis
) -> Iterator[ParticipantRow]:
    for rows in rows_as_of(states, as_of, basis):
        yield rows.participant


def esf_as_of(
    states: Iterable[ParticipantState],
    as_of: datetime,
    period: Period,
    log_position: LogPosition,
    basis: TimeBasis = TimeBasis.RECORDED,
) -> EsfReport:
    """The ESF+ report of `period` over the facts that count at `as_of` on `basis`."""
    return esf_report(_participants(states, as_of, basis), period, as_of, log_position)


class EsfAsOf:
    """The ESF+ report as of an instant, fed states a part of the log at a time. The counts
    are sums over participants, so parts add up to the report of the whole log."""

    def __init__(self, as_of: datetime, period: Period, basis: TimeBasis) -> None:
        self.as_of, self.basis = as_of, basis
        self._tally = EsfTally(period)

    def add(self, states: Iterable[ParticipantState]) -> None:
        for row in _participants(states, self.as_of, self.basis):
            self._tally.add(row)

    def report(self, topic: str, ends: dict[int, int]) -> EsfReport:
        """The report so far, stamped with the replay's `ends` (next offset per partition)."""
        return self._tally.report(self.as_of, LogPosition(topic=topic, next_offsets=dict(ends)))


def replayed_esf(
    replay: Replay,
    topic: str,
    as_of: datetime,
    period: Period,
    basis: TimeBasis = TimeBasis.RECORDED,
) -> EsfReport:
    """The ESF+ report as of `as_of` from a replay of the log, stamped with the replay's ends."""
    tally = EsfAsOf(as_of, period, basis)
    tally.add(replay.states.values())
    return tally.report(topic, replay.ends)


async def stored_esf_as_of(
    conn: Conn,
    as_of: datetime,
    period: Period,
    topic: str,
    basis: TimeBasis = TimeBasis.RECORDED,
) -> EsfReport:
    """The ESF+ report as of `as_of` from the stored states, read in one snapshot.

    The states stream by: each is derived as of the instant and counted, then dropped.
    """
    tally = EsfTally(period)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        offsets = await conn.fetch(READ_OFFSETS, PROJECTION, topic)
        async for record in conn.cursor(_STATES, prefetch=1000):
            state = ParticipantState.from_json(record["participant_id"], record["facts"])
            for row in _participants([state], as_of, basis):
                tally.add(row)
    return tally.report(as_of, log_position(topic, offsets))
