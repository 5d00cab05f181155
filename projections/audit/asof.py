"""Network outcomes as of an instant, from folded states: the auditor's numbers.

Two questions, one per time basis:

- `recorded`: what did the network know at T? The facts recorded up to T,
  retractions included only if they were recorded by then.
- `occurred`: what had happened by T, as known today? The facts that occurred
  up to T, however late they were recorded, and every retraction known today,
  whenever it was made: a retracted event never happened.

The rules were judged once, in log order, by `fold.apply` (the projection's own
fold), so a rejected event counts at no instant. Choosing the facts is all this
module adds; the rows come from `fold.derive` and are counted here exactly as
`queries.network_outcomes` counts them in SQL for an open period, with "now"
being T (in training at T, overdue at T). A test holds the two countings equal.
"""

from __future__ import annotations

import statistics
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from refnet.events.fields import format_utc
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import RETRACTED
from refnet.projections.fold.rows import ParticipantRows
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store.views import (
    NetworkOutcomes,
    PartnerOutcomes,
    Period,
    Placed,
    Referrals,
    SiteOutcomes,
    ratio,
)


class TimeBasis(StrEnum):
    RECORDED = "recorded"
    OCCURRED = "occurred"


def state_as_of(state: ParticipantState, as_of: datetime, basis: TimeBasis) -> ParticipantState:
    """The participant's applied facts that count at `as_of` on `basis`."""
    cut = format_utc(as_of)  # canonical text: comparing strings compares instants
    if basis is TimeBasis.RECORDED:
        kept = {k: f for k, f in state.facts.items() if f.recorded_at <= cut}
    else:
        kept = {k: f for k, f in state.facts.items() if f.type == RETRACTED or f.occurred_at <= cut}
    return ParticipantState(state.participant_id, kept)


def rows_as_of(
    states: Iterable[ParticipantState], as_of: datetime, basis: TimeBasis
) -> Iterable[ParticipantRows]:
    """Derived rows of every participant with a fact that counts at `as_of`."""
    for state in states:
        chosen = state_as_of(state, as_of, basis)
        if any(f.type != RETRACTED for f in chosen.facts.values()):
            yield derive(chosen)


@dataclass
class _Tally:
    """Running counts over participants' rows; one pass, constant memory per key."""

    at: datetime
    overdue_before: str
    participants: int = 0
    placed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    days_to_placement: array[float] = field(default_factory=lambda: array("d"))
    in_training: int = 0
    referrals: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    days_to_answer: array[float] = field(default_factory=lambda: array("d"))
    sites: dict[str, list[int]] = field(default_factory=dict)
    # Per partner: participants enrolled or accepted, and placed. Each participant's rows
    # come once, so counting the partners of each participant counts distinct people.
    partners: dict[str, list[int]] = field(default_factory=dict)

    def add(self, rows: ParticipantRows) -> None:
        p = rows.participant
        counted = p.enrolled and p.first_enrolled_at is not None
        self.participants += counted
        if p.placed_at is not None:
            self.placed += 1
            kind = p.placement_kind or "unknown"
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if counted and p.first_enrolled_at is not None:
                self.days_to_placement.append(_days(p.first_enrolled_at, p.placed_at))
        if p.enrolled and p.site is not None:
            site = self.sites.setdefault(p.site, [0, 0])
            site[0] += counted
            site[1] += p.placed_at is not None
        at = format_utc(self.at)
        if any(
            t.started_at <= at and (t.ended_at is None or t.ended_at > at) for t in rows.trainings
        ):
            self.in_training += 1
        for ref in rows.referrals:
            if ref.state == "withdrawn":
                continue
            self.referrals[ref.state] = self.referrals.get(ref.state, 0) + 1
            if ref.state == "pending" and ref.sent_at < self.overdue_before:
                self.overdue += 1
            if ref.answered_at is not None:
                self.days_to_answer.append(_days(ref.sent_at, ref.answered_at))
        enrolled_or_accepted: set[str] = set()
        placed: set[str] = set()
        for link in rows.links:
            self.partners.setdefault(link.partner_id, [0, 0])
            if link.role in ("enrolled", "accepted") and counted:
                enrolled_or_accepted.add(link.partner_id)
            if link.role == "placed" and p.placed_at is not None:
                placed.add(link.partner_id)
        for partner in enrolled_or_accepted:
            self.partners[partner][0] += 1
        for partner in placed:
            self.partners[partner][1] += 1

    def outcomes(self) -> NetworkOutcomes:
        answered = self.referrals.get("accepted", 0) + self.referrals.get("declined", 0)
        return NetworkOutcomes(
            period=Period(),
            participants=self.participants,
            placed=Placed(
                total=self.placed,
                apprenticeship=self.kinds.get("apprenticeship", 0),
                employment=self.kinds.get("employment", 0),
            ),
            placement_rate=ratio(self.placed, self.participants),
            in_training=self.in_training,
            referrals=Referrals(
                sent=sum(self.referrals.values()),
                accepted=self.referrals.get("accepted", 0),
                declined=self.referrals.get("declined", 0),
                pending=self.referrals.get("pending", 0),
                overdue=self.overdue,
                acceptance_rate=ratio(self.referrals.get("accepted", 0), answered),
                median_days_to_answer=_median(self.days_to_answer),
            ),
            median_days_to_placement=_median(self.days_to_placement),
            by_site=[
                SiteOutcomes(site=site, participants=n, placed=placed)
                for site, (n, placed) in sorted(self.sites.items())
            ],
            by_partner=[
                PartnerOutcomes(partner_id=partner, participants=people, placed=placed)
                for partner, (people, placed) in sorted(self.partners.items())
            ],
        )


def count_outcomes(
    rows: Iterable[ParticipantRows], at: datetime, overdue_days: int
) -> NetworkOutcomes:
    """PRODUCT.md's network outcomes over `rows`, judging "in training" and "overdue" at `at`."""
    tally = _Tally(at, format_utc(at - timedelta(days=overdue_days)))
    for participant_rows in rows:
        tally.add(participant_rows)
    return tally.outcomes()


class OutcomesAsOf:
    """The network outcomes as of an instant, fed states a part of the log at a time; each
    participant's state must come once."""

    def __init__(self, as_of: datetime, basis: TimeBasis, overdue_days: int) -> None:
        self.as_of, self.basis = as_of, basis
        self._tally = _Tally(as_of, format_utc(as_of - timedelta(days=overdue_days)))

    def add(self, states: Iterable[ParticipantState]) -> None:
        for rows in rows_as_of(states, self.as_of, self.basis):
            self._tally.add(rows)

    def outcomes(self) -> NetworkOutcomes:
        return self._tally.outcomes()


def outcomes_as_of(
    states: Iterable[ParticipantState], as_of: datetime, basis: TimeBasis, overdue_days: int
) -> NetworkOutcomes:
    """The network outcomes as of `as_of`, on the given time basis."""
    tally = OutcomesAsOf(as_of, basis, overdue_days)
    tally.add(states)
    return tally.outcomes()


def _days(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400


def _median(values: array[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None
