"""The pure fold of PRODUCT.md's outcome rules: `apply` judges each event against a state.

No I/O here. The live projection and the audit replay both call `apply` for
every event, in log order, and `derive` (fold/derive.py) for the rows, so each
rule exists once.

`apply` judges an event against the live facts already in the state (the rules
that need state): only the receiving partner answers a referral, and only once;
only the emitter retracts an event, and an answered referral can no longer be
withdrawn; a referral, training or placement needs an enrolled participant; a
training is ended by the partner that started it, once; contact details need an
enrolled participant too, but consent events and erasure requests do not (a
withdrawal must never be lost to an ordering accident); erasure requests and key
destructions come only from the network itself, and a key destruction cannot be
retracted (the key is gone). An event that breaks a
rule is not applied: its event_id is remembered with the reason, so that a
redelivery of it is a duplicate, never applied later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from refnet.events.catalogue import NETWORK
from refnet.events.errors import RefNetError
from refnet.projections.fold.facts import (
    ANSWERS,
    ENROLLED,
    KEY_DESTROYED,
    NEEDS_ENROLMENT,
    NETWORK_ONLY,
    RETRACTED,
    SENT,
    STARTED,
    TRAINING_ENDS,
    Fact,
    fact_from_json,
)
from refnet.projections.fold.retractions import _gone, _live, _retractions

_INDEXED = frozenset({ENROLLED, SENT, *ANSWERS, STARTED, *TRAINING_ENDS})  # what rules look up


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


class StateTooOld(RefNetError):
    """A stored state in the form from before `apply` judged the rules (a plain list of facts).

    Such a state may hold what the rules now refuse (a foreign retraction, one
    that came before its original); the fold no longer re-checks for it, so the
    read model has to be folded from the log again, once.
    """

    def __init__(self, participant_id: str) -> None:
        super().__init__(
            f"the read model holds fold states stored before the rules were judged "
            f"(participant {participant_id}): fold it again from the log with "
            f"`refnet projections rebuild`"
        )


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
        """Read the stored form; StateTooOld for the form stored before the rules were judged."""
        body = json.loads(text)
        if isinstance(body, list):
            raise StateTooOld(participant_id)
        rows, rejected = body["facts"], body["rejected"]
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
    if fact.type in NETWORK_ONLY and fact.partner_id != NETWORK:
        return f"only the network ({NETWORK}) records {fact.type}"
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
    if target.type == KEY_DESTROYED:
        return f"event {target_id} records a destroyed key; a destruction cannot be undone"
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
    retractors: dict[str, list[str]]  # target -> its retractions
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
    index = _Index(len(facts), set(), {})
    retracts = False
    for fact in facts.values():
        if fact.type in _INDEXED:
            _place(index, fact, live=True)
        retracts = retracts or fact.type == RETRACTED
    if not retracts:
        return index
    index.retractors = _retractions(facts)
    index.gone = _gone(index.retractors)
    for event_id in index.gone:
        fact = facts[event_id]
        if fact.type != RETRACTED:
            _place(index, fact, live=False)
    return index


def _record(state: ParticipantState, index: _Index, fact: Fact) -> None:
    """Bring the index up to date with `fact`, just applied; O(1) unless it retracts."""
    index.size += 1
    if fact.type != RETRACTED:
        _place(index, fact, live=True)
        return
    # The rules let through only retractions of an existing fact by its emitter.
    target_id = fact.data["retracted_event_id"]
    index.retractors.setdefault(target_id, []).append(fact.event_id)
    _propagate(state.facts, index, target_id, gone=True)


def _propagate(facts: dict[str, Fact], index: _Index, event_id: str, gone: bool) -> None:
    """Set an event's status and follow the change down its chain of retractions.

    A retraction targets one event, an earlier one (`apply` admits no other), so
    a change travels along one path and ends.
    """
    for _ in range(len(facts)):  # a path visits each fact at most once
        if (event_id in index.gone) == gone:
            return
        if gone:
            index.gone.add(event_id)
        else:
            index.gone.discard(event_id)
        fact = facts[event_id]
        if fact.type != RETRACTED:
            _place(index, fact, live=not gone)
            return
        target_id = fact.data["retracted_event_id"]
        others = index.retractors[target_id]
        event_id, gone = target_id, any(r not in index.gone for r in others)
    raise ValueError(f"a cycle of retractions through event {event_id}")


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
