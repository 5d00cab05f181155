"""The pure fold of PRODUCT.md's outcome rules: one participant's facts in, derived rows out.

No I/O here. The live projection and the audit replay both call `apply` for
every event, in log order, and `derive` for the rows, so each rule exists once.

`apply` judges an event against the live facts already in the state (the rules
that need state): only the receiving partner answers a referral, and only once;
only the emitter retracts an event, and an answered referral can no longer be
withdrawn; a referral, training or placement needs an enrolled participant; a
training is ended by the partner that started it, once. An event that breaks a
rule is not applied: its event_id is remembered with the reason, so that a
redelivery of it is a duplicate, never applied later.

`derive` counts: retractions, "first" (earliest occurred_at, ties by log
order), one answer per referral, a placement reported twice counted once. It
keeps its own defences (an answer from another partner, a foreign retraction,
a retraction cycle) for states stored before the rules were judged in `apply`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from refnet.projections.fold.facts import Fact, fact_from_json
from refnet.projections.fold.rows import (
    ParticipantRow,
    ParticipantRows,
    PartnerLinkRow,
    ReferralRow,
    TrainingRow,
)

RETRACTED = "event.retracted"
ENROLLED = "participant.enrolled"
SENT = "referral.sent"
ANSWERS = ("referral.accepted", "referral.declined")
STARTED = "training.started"
TRAINING_ENDS = ("training.completed", "training.discontinued")
NEEDS_ENROLMENT = frozenset({SENT, STARTED, *TRAINING_ENDS, "participant.placed"})
_INDEXED = frozenset({ENROLLED, SENT, *ANSWERS, STARTED, *TRAINING_ENDS})  # what rules look up
LEAVING_WINDOW_DAYS = 28


class Status(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # its event_id was applied or rejected before: a no-op
    REJECTED = "rejected"  # it breaks a rule: not applied, remembered with the reason


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `apply` did with one fact."""

    status: Status
    reason: str | None = None  # why it was rejected


APPLIED = Verdict(Status.APPLIED)
DUPLICATE = Verdict(Status.DUPLICATE)


@dataclass
class ParticipantState:
    """Every applied fact about one participant in apply order, and the rejected event ids."""

    participant_id: str
    facts: dict[str, Fact] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # event_id -> reason
    # What the rules look up, kept up to date by `apply`; rebuilt when stale.
    _index: _Index | None = field(default=None, init=False, repr=False, compare=False)

    def to_json(self) -> str:
        body = {"facts": list(self.facts.values()), "rejected": list(self.rejected.items())}
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, participant_id: str, text: str) -> ParticipantState:
        """Read the stored form; a plain list of facts is the form before rejections."""
        body = json.loads(text)
        rows, rejected = (body, []) if isinstance(body, list) else (body["facts"], body["rejected"])
        facts = (fact_from_json(row) for row in rows)
        return cls(
            participant_id,
            {f.event_id: f for f in facts},
            dict(rejected),
        )


def apply(state: ParticipantState, fact: Fact) -> Verdict:
    """Judge `fact` against the state and add it if it breaks no rule.

    Facts must come in log order: the rules look only at what came before.
    """
    if fact.event_id in state.facts or fact.event_id in state.rejected:
        return DUPLICATE
    index = _indexed(state)
    reason = _violation(state, index, fact, revive=True)
    if reason is not None:
        state.rejected[fact.event_id] = reason
        return Verdict(Status.REJECTED, reason)
    state.facts[fact.event_id] = fact
    _record(state, index, fact)
    return APPLIED


# ------------------------------------------------------------------ the rules


def _violation(state: ParticipantState, index: _Index, fact: Fact, revive: bool) -> str | None:
    """The rule `fact` breaks given the live facts, or None."""
    if fact.type in NEEDS_ENROLMENT and not index.enrolments:
        return f"participant {state.participant_id} is not enrolled"
    if fact.type in ANSWERS:
        return _answer_violation(index, fact)
    if fact.type in TRAINING_ENDS:
        return _training_end_violation(index, fact)
    if fact.type == RETRACTED:
        return _retraction_violation(state, index, fact, revive)
    return None


def _answer_violation(index: _Index, fact: Fact) -> str | None:
    referral_id = fact.data["referral_id"]
    referral = _first(index.sent.get(referral_id))
    if referral is None:
        return f"no referral {referral_id} for this participant"
    receiver = referral.data["to_partner"]
    if fact.partner_id != receiver:
        return f"only {receiver}, the receiving partner, may answer referral {referral_id}"
    answer = _answer_of(index, referral_id, receiver)
    if answer is not None:
        return f"referral {referral_id} was already {answer.type.removeprefix('referral.')}"
    return None


def _training_end_violation(index: _Index, fact: Fact) -> str | None:
    training_id = fact.data["training_id"]
    start = _first(index.started.get(training_id))
    if start is None:
        return f"no training {training_id} for this participant"
    if fact.partner_id != start.partner_id:
        return f"only {start.partner_id}, which started training {training_id}, may end it"
    end = _first(index.ended.get(training_id))
    if end is not None:
        return f"training {training_id} was already {end.type.removeprefix('training.')}"
    return None


def _retraction_violation(
    state: ParticipantState, index: _Index, fact: Fact, revive: bool
) -> str | None:
    target_id = fact.data["retracted_event_id"]
    target = state.facts.get(target_id)
    if target is None:
        return f"no event {target_id} for this participant"
    if target.partner_id != fact.partner_id:
        return f"only {target.partner_id}, which emitted event {target_id}, may retract it"
    if target.type == SENT:
        referral_id = target.data["referral_id"]
        if _answer_of(index, referral_id, target.data["to_partner"]) is not None:
            return f"referral {referral_id} was already answered; it can no longer be withdrawn"
    if revive and target.type == RETRACTED:
        # Retracting a retraction brings its target back: judge that as if it were new.
        restored = _restored_by(state, index, target)
        if restored is not None:
            reason = _violation(state, index, restored, revive=False)
            if reason is not None:
                return f"retracting it would restore event {restored.event_id}, but {reason}"
    return None


def _restored_by(state: ParticipantState, index: _Index, retraction: Fact) -> Fact | None:
    """The event that comes back to life if the standing `retraction` goes, if any."""
    if retraction.event_id in index.gone:
        return None
    target_id = retraction.data["retracted_event_id"]
    others = index.retractors.get(target_id, [])
    if target_id not in index.gone or retraction.event_id not in others:
        return None
    if any(r != retraction.event_id and r not in index.gone for r in others):
        return None  # another retraction still stands
    return state.facts[target_id]


def _answer_of(index: _Index, referral_id: str, receiver: str) -> Fact | None:
    """The answer that counts: the receiver's first live one."""
    answers = index.answers.get(referral_id)
    if not answers:
        return None
    return _first({k: f for k, f in answers.items() if f.partner_id == receiver})


def _first(facts: dict[str, Fact] | None) -> Fact | None:
    return min(facts.values(), key=lambda f: f.order) if facts else None


# ------------------------------------------------------------------ the index


@dataclass(slots=True)
class _Index:
    """The live facts the rules look up, by business id; maintained fact by fact.

    Buckets map a referral or training id to its live facts by event_id.
    """

    size: int  # len(state.facts) it describes; any other length means stale
    gone: set[str]  # retracted_ids(facts)
    retractors: dict[str, list[str]]  # target -> its effective retractions
    awaited: set[str]  # targets of retractions that are not (yet) facts
    acyclic: bool  # no retraction cycle: statuses can be updated along one chain
    enrolments: set[str] = field(default_factory=set)
    sent: dict[str, dict[str, Fact]] = field(default_factory=dict)
    answers: dict[str, dict[str, Fact]] = field(default_factory=dict)
    started: dict[str, dict[str, Fact]] = field(default_factory=dict)
    ended: dict[str, dict[str, Fact]] = field(default_factory=dict)


def _indexed(state: ParticipantState) -> _Index:
    index = state._index
    if index is None or index.size != len(state.facts):
        index = state._index = _build(state.facts)
    return index


def _build(facts: dict[str, Fact]) -> _Index:
    """One pass over the facts; retractions (rare) are resolved afterwards."""
    index = _Index(len(facts), set(), {}, set(), True)
    retractions: list[Fact] = []
    for fact in facts.values():
        if fact.type in _INDEXED:
            _place(index, fact, live=True)
        elif fact.type == RETRACTED:
            retractions.append(fact)
    if not retractions:
        return index
    index.retractors = _retractions(facts)
    index.gone = _gone(index.retractors)
    index.awaited = {
        target for f in retractions if (target := f.data["retracted_event_id"]) not in facts
    }
    index.acyclic = _acyclic(index.retractors)
    for event_id in index.gone:
        fact = facts[event_id]
        if fact.type != RETRACTED:
            _place(index, fact, live=False)
    return index


def _record(state: ParticipantState, index: _Index, fact: Fact) -> None:
    """Bring the index up to date with `fact`, just applied; O(1) unless it retracts."""
    if fact.event_id in index.awaited:
        state._index = None  # a retraction stored before the rules waited for it: rebuild
        return
    index.size += 1
    if fact.type != RETRACTED:
        _place(index, fact, live=True)
        return
    # The rules let through only retractions of an existing fact by its emitter.
    target_id = fact.data["retracted_event_id"]
    index.retractors.setdefault(target_id, []).append(fact.event_id)
    if not index.acyclic or not _propagate(state.facts, index, target_id, gone=True):
        state._index = None


def _propagate(facts: dict[str, Fact], index: _Index, event_id: str, gone: bool) -> bool:
    """Set an event's status and follow the change up its chain of retractions.

    A retraction targets one event, so a change travels along one path. Returns
    False if the path loops (it cannot without a cycle; then the caller rebuilds).
    """
    seen: set[str] = set()
    while event_id not in seen:
        seen.add(event_id)
        if (event_id in index.gone) == gone:
            return True
        if gone:
            index.gone.add(event_id)
        else:
            index.gone.discard(event_id)
        fact = facts[event_id]
        if fact.type != RETRACTED:
            _place(index, fact, live=not gone)
            return True
        target_id = fact.data["retracted_event_id"]
        others = index.retractors.get(target_id, [])
        if event_id not in others:
            return True  # it retracts nothing
        event_id, gone = target_id, any(r not in index.gone for r in others)
    return False


def _place(index: _Index, fact: Fact, live: bool) -> None:
    """Add `fact` to its bucket (live) or take it out (retracted)."""
    if fact.type == ENROLLED:
        if live:
            index.enrolments.add(fact.event_id)
        else:
            index.enrolments.discard(fact.event_id)
        return
    if fact.type == SENT:
        buckets, key = index.sent, fact.data["referral_id"]
    elif fact.type in ANSWERS:
        buckets, key = index.answers, fact.data["referral_id"]
    elif fact.type == STARTED:
        buckets, key = index.started, fact.data["training_id"]
    elif fact.type in TRAINING_ENDS:
        buckets, key = index.ended, fact.data["training_id"]
    else:
        return
    if live:
        buckets.setdefault(key, {})[fact.event_id] = fact
    elif key in buckets:
        buckets[key].pop(fact.event_id, None)
        if not buckets[key]:
            del buckets[key]


# ------------------------------------------------------------------ retractions


def retracted_ids(facts: dict[str, Fact]) -> set[str]:
    """Events that count as never having happened.

    A retraction is effective only when it comes from the partner that emitted
    the original, and only while it is not itself retracted. `apply` admits no
    other, but a state stored before it judged the rules may hold a foreign
    retraction, a retraction that arrived before its original (it takes effect
    when the original does) or a cycle of retractions (which retracts nothing).
    """
    return _gone(_retractions(facts))


def _retractions(facts: dict[str, Fact]) -> dict[str, list[str]]:
    """Target event -> the retractions of it by its own emitter."""
    retractions: dict[str, list[str]] = {}
    for fact in facts.values():
        if fact.type == RETRACTED:
            target = facts.get(fact.data["retracted_event_id"])
            if target is not None and target.partner_id == fact.partner_id:
                retractions.setdefault(target.event_id, []).append(fact.event_id)
    return retractions


def _gone(retractions: dict[str, list[str]]) -> set[str]:
    decided: dict[str, bool] = {}
    for root in retractions:
        _decide(root, retractions, decided)
    return {event_id for event_id, gone in decided.items() if gone}


def _acyclic(retractions: dict[str, list[str]]) -> bool:
    """No chain of effective retractions leads back to where it started."""
    target_of = {r: target for target, rs in retractions.items() for r in rs}
    done: set[str] = set()
    for start in target_of:
        path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in path:
                return False
            path.add(node)
            node = target_of.get(node)
        done |= path
    return True


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


def standing_retractions(state: ParticipantState) -> dict[str, list[Fact]]:
    """Each retracted event of the state -> the standing retractions that retract it."""
    index = _indexed(state)
    return {
        target: [state.facts[r] for r in retractions if r not in index.gone]
        for target, retractions in index.retractors.items()
        if target in index.gone
    }


def live_facts(state: ParticipantState) -> list[Fact]:
    """Facts that count, in "first" order; retractions themselves are not facts."""
    return _live(state.facts, _indexed(state).gone)


def _live(facts: dict[str, Fact], gone: set[str]) -> list[Fact]:
    live = [f for f in facts.values() if f.type != RETRACTED and f.event_id not in gone]
    return sorted(live, key=lambda f: f.order)


def derive(state: ParticipantState) -> ParticipantRows:
    """The read-model rows for one participant, from the facts that count."""
    gone = _indexed(state).gone
    live = _live(state.facts, gone)
    by_type: dict[str, list[Fact]] = {}
    for fact in live:
        by_type.setdefault(fact.type, []).append(fact)
    referrals = _referrals(state.participant_id, live)
    withdrawn = _withdrawn(
        state.participant_id, state.facts, gone, {r.referral_id for r in referrals}
    )
    return ParticipantRows(
        participant=_participant(state.participant_id, by_type),
        referrals=referrals + withdrawn,
        trainings=_trainings(state.participant_id, live),
        links=_links(state.participant_id, by_type, referrals),
    )


def _participant(pid: str, by_type: dict[str, list[Fact]]) -> ParticipantRow:
    enrolments = by_type.get(ENROLLED, [])
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
        if fact.type == SENT:
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
                withdrawn_at=None,
            )
        )
    return rows


def _withdrawn(
    pid: str, facts: dict[str, Fact], gone: set[str], live_ids: set[str]
) -> list[ReferralRow]:
    """Referrals whose referral.sent its sender retracted: shown to the sender, never counted.

    Their answers are not shown: a withdrawn referral was never answered.
    """
    sends = [
        fact
        for event_id in gone
        if (fact := facts[event_id]).type == SENT and fact.data["referral_id"] not in live_ids
    ]
    if not sends:
        return []
    withdrawn_at: dict[str, str] = {}  # referral.sent -> its earliest standing retraction
    for fact in facts.values():
        if fact.type == RETRACTED and fact.event_id not in gone:
            target_id = fact.data["retracted_event_id"]
            target = facts.get(target_id)
            if target is None or target.partner_id != fact.partner_id:
                continue
            earlier = withdrawn_at.get(target_id, fact.occurred_at)
            withdrawn_at[target_id] = min(earlier, fact.occurred_at)
    rows: dict[str, ReferralRow] = {}
    for fact in sorted(sends, key=lambda f: f.order):
        rows.setdefault(
            fact.data["referral_id"],
            ReferralRow(
                participant_id=pid,
                referral_id=fact.data["referral_id"],
                from_partner=fact.partner_id,
                to_partner=fact.data["to_partner"],
                service=fact.data["service"],
                site=fact.site,
                sent_at=fact.occurred_at,
                state="withdrawn",
                answered_at=None,
                decline_reason=None,
                withdrawn_at=withdrawn_at.get(fact.event_id),
            ),
        )
    return list(rows.values())


def _trainings(pid: str, live: list[Fact]) -> list[TrainingRow]:
    started: dict[str, Fact] = {}
    ended: dict[str, Fact] = {}
    for fact in live:
        if fact.type == STARTED:
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
    for fact in by_type.get(ENROLLED, []):
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
