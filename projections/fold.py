"""The pure fold of PRODUCT.md's outcome rules: one participant's facts in, derived rows out.

No I/O here. The live projection and the audit replay both call `apply` for
every event and `derive` for the rows, so each counting rule exists once:
retractions, "first" (earliest occurred_at, ties by log order), one answer per
referral, a placement reported twice counted once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from refnet.projections.facts import Fact, fact_from_json
from refnet.projections.rows import (
    ParticipantRow,
    ParticipantRows,
    PartnerLinkRow,
    ReferralRow,
    TrainingRow,
)

RETRACTED = "event.retracted"
ANSWERS = ("referral.accepted", "referral.declined")
TRAINING_ENDS = ("training.completed", "training.discontinued")
LEAVING_WINDOW_DAYS = 28


@dataclass
class ParticipantState:
    """Every distinct fact about one participant, in the order they were applied."""

    participant_id: str
    facts: dict[str, Fact] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(list(self.facts.values()), separators=(",", ":"))

    @classmethod
    def from_json(cls, participant_id: str, text: str) -> ParticipantState:
        facts = (fact_from_json(row) for row in json.loads(text))
        return cls(participant_id, {f.event_id: f for f in facts})


def apply(state: ParticipantState, fact: Fact) -> bool:
    """Add `fact` to the state; False when its event_id was applied before (a no-op)."""
    if fact.event_id in state.facts:
        return False
    state.facts[fact.event_id] = fact
    return True


def retracted_ids(facts: dict[str, Fact]) -> set[str]:
    """Events that count as never having happened.

    A retraction is effective only when it comes from the partner that emitted
    the original, and only while it is not itself retracted. A retraction that
    arrives before its original is kept and takes effect when the original does.
    Retractions that form a cycle retract nothing.
    """
    retractions: dict[str, list[str]] = {}
    for fact in facts.values():
        if fact.type == RETRACTED:
            target = facts.get(fact.data["retracted_event_id"])
            if target is not None and target.partner_id == fact.partner_id:
                retractions.setdefault(target.event_id, []).append(fact.event_id)
    decided: dict[str, bool] = {}
    for root in retractions:
        _decide(root, retractions, decided)
    return {event_id for event_id, gone in decided.items() if gone}


def _decide(root: str, retractions: dict[str, list[str]], decided: dict[str, bool]) -> None:
    """Iterative post-order walk: an event is retracted if any of its retractions stands."""
    in_progress: set[str] = set()
    stack = [root]
    while stack:
        event_id = stack[-1]
        if event_id in decided:
            stack.pop()
            continue
        pending = [
            r for r in retractions.get(event_id, ()) if r not in decided and r not in in_progress
        ]
        if pending and event_id not in in_progress:
            in_progress.add(event_id)
            stack.extend(pending)
            continue
        # A retraction still in progress here closes a cycle: it does not stand.
        decided[event_id] = any(
            not decided.get(r, True) for r in retractions.get(event_id, ()) if r not in in_progress
        )
        in_progress.discard(event_id)
        stack.pop()


def live_facts(state: ParticipantState) -> list[Fact]:
    """Facts that count, in "first" order; retractions themselves are not facts."""
    gone = retracted_ids(state.facts)
    live = [f for f in state.facts.values() if f.type != RETRACTED and f.event_id not in gone]
    return sorted(live, key=lambda f: f.order)


def derive(state: ParticipantState) -> ParticipantRows:
    """The read-model rows for one participant, from the facts that count."""
    live = live_facts(state)
    by_type: dict[str, list[Fact]] = {}
    for fact in live:
        by_type.setdefault(fact.type, []).append(fact)
    referrals = _referrals(state.participant_id, live)
    return ParticipantRows(
        participant=_participant(state.participant_id, by_type),
        referrals=referrals,
        trainings=_trainings(state.participant_id, live),
        links=_links(state.participant_id, by_type, referrals),
    )


def _participant(pid: str, by_type: dict[str, list[Fact]]) -> ParticipantRow:
    enrolments = by_type.get("participant.enrolled", [])
    placements = by_type.get("participant.placed", [])
    first = enrolments[0] if enrolments else None
    placed = placements[0] if placements else None
    status = by_type.get("residence_status.changed", [])
    data: dict[str, Any] = first.data if first else {}
    leaving_at, leaving = _leaving(by_type.get("participant.exited", []))
    follow_ups = by_type.get("participant.followed_up", [])
    return ParticipantRow(
        participant_id=pid,
        enrolled=first is not None,
        first_enrolled_at=first.occurred_at if first else None,
        site=first.site if first else None,
        first_partner=first.partner_id if first else None,
        gender=data.get("gender"),
        age_band=data.get("age_band"),
        education_level=data.get("education_level"),
        employment_status=data.get("employment_status"),
        third_country_national=_text(data.get("third_country_national")),
        residence_status=(status[-1].data if status else data).get("residence_status"),
        placed_at=placed.occurred_at if placed else None,
        placement_kind=placed.data["kind"] if placed else None,
        placement_partner=placed.partner_id if placed else None,
        exited_at=leaving_at,
        leaving_situation=leaving,
        followup_situation=follow_ups[-1].data["situation"] if follow_ups else None,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaving(exits: list[Fact]) -> tuple[str | None, str | None]:
    """Situation on leaving: the last fact recorded within four weeks after the first exit."""
    if not exits:
        return None, None
    first = exits[0]
    left = _instant(first.occurred_at)
    window = timedelta(days=LEAVING_WINDOW_DAYS)
    within = [f for f in exits if _instant(f.recorded_at) - left <= window]
    last = max(within or [first], key=lambda f: (f.recorded_at, f.partition, f.offset))
    return first.occurred_at, last.data["situation"]


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _referrals(pid: str, live: list[Fact]) -> list[ReferralRow]:
    sent: dict[str, Fact] = {}
    answers: dict[str, Fact] = {}
    for fact in live:  # live is in "first" order, so setdefault keeps the first
        if fact.type == "referral.sent":
            sent.setdefault(fact.data["referral_id"], fact)
    for fact in live:
        if fact.type in ANSWERS:
            ref = sent.get(fact.data["referral_id"])
            # Only the receiving partner's answer counts, and only its first one.
            if ref is not None and fact.partner_id == ref.data["to_partner"]:
                answers.setdefault(fact.data["referral_id"], fact)
    rows = []
    for referral_id, fact in sent.items():
        answer = answers.get(referral_id)
        rows.append(
            ReferralRow(
                participant_id=pid,
                referral_id=referral_id,
                from_partner=fact.partner_id,
                to_partner=fact.data["to_partner"],
                service=fact.data["service"],
                site=fact.site,
                sent_at=fact.occurred_at,
                state=answer.type.removeprefix("referral.") if answer else "pending",
                answered_at=answer.occurred_at if answer else None,
                decline_reason=answer.data.get("reason") if answer else None,
            )
        )
    return rows


def _trainings(pid: str, live: list[Fact]) -> list[TrainingRow]:
    started: dict[str, Fact] = {}
    ended: dict[str, Fact] = {}
    for fact in live:
        if fact.type == "training.started":
            started.setdefault(fact.data["training_id"], fact)
        elif fact.type in TRAINING_ENDS:
            ended.setdefault(fact.data["training_id"], fact)
    rows = []
    for training_id, start in started.items():
        end = ended.get(training_id)
        rows.append(
            TrainingRow(
                participant_id=pid,
                training_id=training_id,
                partner_id=start.partner_id,
                kind=start.data["kind"],
                started_at=start.occurred_at,
                ended_at=end.occurred_at if end else None,
                outcome=_training_outcome(end),
            )
        )
    return rows


def _training_outcome(end: Fact | None) -> str | None:
    if end is None:
        return None
    if end.type == "training.discontinued":
        return "discontinued"
    return "qualified" if end.data.get("qualification_gained") else "completed"


def _links(
    pid: str, by_type: dict[str, list[Fact]], referrals: list[ReferralRow]
) -> list[PartnerLinkRow]:
    """Which partners serve the participant, and since when (first fact of each role)."""
    links: dict[tuple[str, str], str] = {}
    for fact in by_type.get("participant.enrolled", []):
        links.setdefault((fact.partner_id, "enrolled"), fact.occurred_at)
    for ref in referrals:
        if ref.state == "accepted" and ref.answered_at is not None:
            key = (ref.to_partner, "accepted")
            links[key] = min(links.get(key, ref.answered_at), ref.answered_at)
    for fact in by_type.get("participant.placed", []):
        links.setdefault((fact.partner_id, "placed"), fact.occurred_at)
    return [
        PartnerLinkRow(partner_id=partner, participant_id=pid, role=role, since=since)
        for (partner, role), since in sorted(links.items())
    ]
