"""Events and shortcuts for the fold and outcome-rule tests, one participant at a time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from refnet.events.catalogue import EventModel
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Fact
from refnet.projections.fold.rows import ParticipantRows, PartnerLinkRow
from refnet.projections.fold.rules import ParticipantState, Status, Verdict, apply
from tests.unit.history import PID, at_offsets, day, ev

# Network counts are sums over participants, so each rule is pinned on the rows
# of a single participant: its participant row, referrals, trainings and partner
# links. "First" is earliest occurred_at, ties broken by log order. `fold` applies
# events in log order, so the rules that need state are judged (each rule and its
# reason: `test_rules_judged.py`); `stored` builds a state without judging, as one
# stored before the rules were judged in `apply` may be: derive must still count it
# right.


def links(rows_links: list[PartnerLinkRow]) -> set[tuple[str, str]]:
    return {(link.partner_id, link.role) for link in rows_links}


def enrol(by: str = "awo-en", at: int = 1) -> EventModel:
    return ev("participant.enrolled", by, day(at))


def stored(facts: list[Fact]) -> ParticipantState:
    """A state holding `facts` unjudged, in the given order."""
    return ParticipantState(PID, {f.event_id: f for f in facts})


def verdicts(*events: EventModel) -> tuple[list[Verdict], ParticipantRows]:
    """Apply `events` in log order: each one's verdict, and the rows."""
    state = ParticipantState(PID)
    judged = [apply(state, fact) for fact in at_offsets(*events)]
    return judged, derive(state)


def rejected(reason: str) -> Verdict:
    return Verdict(Status.REJECTED, reason)


def sent(referral_id: str = "r1", by: str = "awo-en", to: str = "bobeq", at: int = 2) -> EventModel:
    return ev(
        "referral.sent", by, day(at), referral_id=referral_id, to_partner=to, service="counselling"
    )


def accepted(referral_id: str = "r1", by: str = "bobeq", at: int = 4) -> EventModel:
    return ev("referral.accepted", by, day(at), referral_id=referral_id)


def declined(
    referral_id: str = "r1", by: str = "bobeq", at: int = 4, reason: str = "no_capacity"
) -> EventModel:
    return ev("referral.declined", by, day(at), referral_id=referral_id, reason=reason)


def exited(situation: str, at: dt.datetime, recorded: dt.datetime | None = None) -> EventModel:
    return ev("participant.exited", "awo-en", at, recorded=recorded, situation=situation)


def training(
    step: str, at: int, by: str = "hwk-dortmund-aba", tid: str = "t1", **data: Any
) -> EventModel:
    return ev(f"training.{step}", by, day(at), training_id=tid, **data)


NOT_ENROLLED = f"participant {PID} is not enrolled"
