"""The mechanics of the pure fold: verdicts, duplicates, rejections, retractions, state JSON.

One participant at a time; events are real catalogue events (see `history.py`),
log positions are chosen by each test. `apply` takes facts in log order, as the
projection does; `stored` builds a state without judging, like one stored before
the rules were judged in `apply`. The counting rules built on top, and each rule
with its reason, are in `test_outcome_rules.py`.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet.events.catalogue import EventModel
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Fact, Position, fact_of
from refnet.projections.fold.retractions import retracted_ids
from refnet.projections.fold.rows import ParticipantRows
from refnet.projections.fold.rules import (
    APPLIED,
    DUPLICATE,
    ParticipantState,
    Status,
    Verdict,
    apply,
    live_facts,
)
from tests.unit.history import PID, at_offsets, day, ev, event_id, fold, retract, stamp, state_of

NOT_ENROLLED = f"participant {PID} is not enrolled"


def stored(facts: list[Fact]) -> ParticipantState:
    """A state holding `facts` unjudged, in the given order."""
    return ParticipantState(PID, {f.event_id: f for f in facts})


# ------------------------------------------------------------------ apply


def test_apply_adds_a_new_fact_and_reports_it() -> None:
    state = ParticipantState(PID)
    (enrolled,) = at_offsets(ev("participant.enrolled"))

    assert apply(state, enrolled) == APPLIED
    assert list(state.facts.values()) == [enrolled]
    assert state.rejected == {}


def test_a_duplicate_event_id_is_a_no_op() -> None:
    enrolled, placed = at_offsets(ev("participant.enrolled"), ev("participant.placed", at=day(5)))
    state = state_of([enrolled, placed])
    before = derive(state)

    assert apply(state, enrolled) == DUPLICATE
    assert apply(state, placed) == DUPLICATE

    assert derive(state) == before
    assert len(state.facts) == 2


def test_a_redelivery_at_a_later_offset_keeps_the_first_copy() -> None:
    event = ev("participant.enrolled", "awo-en", day(1))
    first = fact_of(event, Position(0, 3))
    state = state_of([first])

    assert apply(state, fact_of(event, Position(0, 9))) == DUPLICATE

    assert state.facts[first.event_id] == first


def test_a_second_event_with_the_same_id_but_other_content_is_ignored() -> None:
    original = ev("participant.enrolled", "awo-en", day(1), key="same", gender="female")
    impostor = ev("participant.enrolled", "bobeq", day(0), key="same", gender="male")
    state = state_of(at_offsets(original, impostor))

    row = derive(state).participant

    assert (row.first_partner, row.gender) == ("awo-en", "female")


def test_an_empty_state_derives_a_participant_that_is_not_enrolled() -> None:
    rows = derive(ParticipantState(PID))

    assert rows.participant.participant_id == PID
    assert rows.participant.enrolled is False
    assert rows.participant.first_enrolled_at is None
    assert rows.participant.placed_at is None
    assert (rows.referrals, rows.trainings, rows.links) == ([], [], [])


# ------------------------------------------------------------- rejections


def test_a_rejected_event_is_not_a_fact_but_its_id_and_reason_are_kept() -> None:
    state = ParticipantState(PID)
    (placed,) = at_offsets(ev("participant.placed", "bobeq", day(5)))

    verdict = apply(state, placed)

    assert verdict == Verdict(Status.REJECTED, NOT_ENROLLED)
    assert state.facts == {}
    assert state.rejected == {placed.event_id: NOT_ENROLLED}
    assert derive(state) == derive(ParticipantState(PID))


def test_a_rejected_event_id_stays_a_duplicate_once_it_would_be_valid() -> None:
    placed, enrolled = at_offsets(
        ev("participant.placed", "bobeq", day(5)), ev("participant.enrolled")
    )
    state = state_of([placed, enrolled])
    redelivered = fact_of(ev("participant.placed", "bobeq", day(5), key="x"), Position(0, 7))
    republished = redelivered._replace(event_id=placed.event_id)

    assert apply(state, placed) == DUPLICATE
    assert apply(state, republished) == DUPLICATE

    assert derive(state).participant.placed_at is None
    assert state.rejected == {placed.event_id: NOT_ENROLLED}


def test_rejections_leave_the_rows_as_if_the_events_never_came() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    breaking = [
        ev("referral.accepted", "bobeq", day(2), referral_id="nope"),
        ev("training.completed", "bobeq", day(3), training_id="nope"),
        retract(ev("participant.placed", "awo-en", day(1)), at=day(4)),
        retract(enrolled, partner="bobeq", at=day(5)),
    ]
    state = state_of(at_offsets(enrolled, *breaking))

    assert len(state.rejected) == len(breaking)
    assert derive(state) == fold(enrolled)


# ------------------------------------------------------------- live facts


def test_live_facts_are_in_first_order_occurred_at_then_log_order() -> None:
    late = ev("participant.placed", at=day(9))
    tie_b = ev("training.started", at=day(2), training_id="b")
    tie_a = ev("training.started", at=day(2), training_id="a")
    early = ev("participant.enrolled", at=day(1))
    facts = at_offsets(late, tie_b, tie_a, early)

    live = live_facts(stored(facts[::-1]))

    assert [f.event_id for f in live] == [str(e.event_id) for e in (early, tie_b, tie_a, late)]


def test_live_facts_leave_out_retractions_and_what_they_retract() -> None:
    enrolled = ev("participant.enrolled", at=day(1))
    placed = ev("participant.placed", at=day(5))
    facts = at_offsets(enrolled, placed, retract(placed, at=day(6)))

    live = live_facts(state_of(facts))

    assert [f.type for f in live] == ["participant.enrolled"]


# ------------------------------------------------------------- retractions


def test_a_retraction_by_the_emitting_partner_takes_effect() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))

    rows = fold(enrolled, retract(enrolled, at=day(2)))

    assert rows.participant.enrolled is False
    assert rows.links == []


def test_a_stored_retraction_by_another_partner_is_ignored() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    facts = at_offsets(enrolled, retract(enrolled, partner="bobeq", at=day(2)))

    assert retracted_ids(stored(facts).facts) == set()
    assert derive(stored(facts)).participant.enrolled is True


def test_a_stored_retraction_still_takes_effect_when_its_original_arrives() -> None:
    # Before the rules, a retraction that came first was kept until its original came.
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    original, retraction = at_offsets(enrolled, retract(enrolled, at=day(2)))
    state = stored([retraction])
    assert derive(state).participant.enrolled is False

    assert apply(state, original) == APPLIED

    assert retracted_ids(state.facts) == {original.event_id}
    assert derive(state).participant.enrolled is False
    later = fact_of(ev("referral.sent", "awo-en", day(3)), Position(0, 5))
    assert apply(state, later) == Verdict(Status.REJECTED, NOT_ENROLLED)


def test_retracting_a_retraction_restores_the_original() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    first = retract(enrolled, at=day(2))

    rows = fold(enrolled, first, retract(first, at=day(3)))

    assert rows.participant.enrolled is True


def test_retracting_the_retraction_of_a_retraction_retracts_again() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    first = retract(enrolled, at=day(2))
    second = retract(first, at=day(3))

    rows = fold(enrolled, first, second, retract(second, at=day(4)))

    assert rows.participant.enrolled is False


def test_only_the_retraction_emitter_can_retract_the_retraction() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    first = retract(enrolled, at=day(2))

    rows = fold(enrolled, first, retract(first, partner="bobeq", at=day(3)))

    assert rows.participant.enrolled is False


def test_one_live_retraction_suffices_when_another_is_itself_retracted() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    withdrawn = retract(enrolled, at=day(2))
    standing = retract(enrolled, at=day(3))

    rows = fold(enrolled, withdrawn, standing, retract(withdrawn, at=day(4)))

    assert rows.participant.enrolled is False


def _retraction_of(target_key: str, key: str, partner: str = "awo-en") -> EventModel:
    return ev(
        "event.retracted",
        partner,
        day(2),
        key=key,
        retracted_event_id=event_id(target_key),
        reason="cycle",
    )


def test_apply_never_lets_a_retraction_cycle_form() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    one = _retraction_of("never-two", key="never-one")
    two = _retraction_of("never-one", key="never-two")
    state = state_of(at_offsets(enrolled, one, two))

    assert set(state.rejected) == {str(one.event_id), str(two.event_id)}


@pytest.mark.timeout(10)
def test_a_stored_retraction_cycle_terminates_and_leaves_real_facts_alone() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    one = _retraction_of("cycle-two", key="cycle-one")
    two = _retraction_of("cycle-one", key="cycle-two")

    rows = derive(stored(at_offsets(enrolled, one, two)))

    assert rows == fold(enrolled)


@pytest.mark.timeout(10)
def test_a_stored_retraction_that_retracts_itself_terminates() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    selfish = _retraction_of("selfish", key="selfish")

    rows = derive(stored(at_offsets(enrolled, selfish)))

    assert rows.participant.enrolled is True


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)])
def test_a_stored_retraction_cycle_does_not_make_derive_depend_on_order(
    order: tuple[int, ...],
) -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    undo = retract(enrolled, at=day(2))
    one = _retraction_of("loop-two", key="loop-one")
    two = _retraction_of("loop-one", key="loop-two")
    facts = at_offsets(enrolled, undo, one, two)

    rows = derive(stored([facts[i] for i in order]))

    assert rows.participant.enrolled is False


@pytest.mark.timeout(10)
def test_a_state_with_a_stored_cycle_still_judges_new_retractions() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    one = _retraction_of("judge-two", key="judge-one")
    two = _retraction_of("judge-one", key="judge-two")
    state = stored(at_offsets(enrolled, one, two))
    (undo,) = at_offsets(retract(enrolled, at=day(3)), partition=1)

    assert apply(state, undo) == APPLIED

    assert derive(state).participant.enrolled is False


@pytest.mark.timeout(10)
@pytest.mark.parametrize("which", [0, 1])
def test_retracting_part_of_a_stored_cycle_derives_like_a_reloaded_state(which: int) -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    placed = ev("participant.placed", "awo-en", day(2))
    cycle = [_retraction_of("part-two", key="part-one"), _retraction_of("part-one", key="part-two")]
    state = stored(at_offsets(enrolled, placed, *cycle))
    (undo,) = at_offsets(retract(cycle[which], at=day(3)), partition=1)

    assert apply(state, undo) == APPLIED

    reloaded = ParticipantState.from_json(PID, state.to_json())
    assert derive(state) == derive(reloaded)


def _retraction_chain(length: int) -> list[EventModel]:
    """An enrolment, a retraction of it, a retraction of that, ... (`length` retractions)."""
    events: list[EventModel] = [ev("participant.enrolled", "awo-en", day(1))]
    for step in range(length):
        events.append(retract(events[-1], at=day(2, hours=step)))
    return events


@pytest.mark.parametrize("length", [1, 2, 3, 4, 15, 16])
def test_a_chain_of_retractions_alternates(length: int) -> None:
    rows = fold(*_retraction_chain(length))

    assert rows.participant.enrolled is (length % 2 == 0)


@pytest.mark.parametrize("length", [17, 19])
def test_a_chain_of_more_than_sixteen_retractions_still_alternates(length: int) -> None:
    rows = fold(*_retraction_chain(length))

    assert rows.participant.enrolled is (length % 2 == 0)


@pytest.mark.parametrize("length", [2, 3, 16, 17])
def test_a_chain_of_retractions_judged_live_matches_one_judged_after_reloading(
    length: int,
) -> None:
    facts = at_offsets(*_retraction_chain(length))
    live = state_of(facts)

    reloaded = ParticipantState.from_json(PID, live.to_json())

    assert live_facts(live) == live_facts(reloaded)
    assert retracted_ids(live.facts) == retracted_ids(reloaded.facts)


# ------------------------------------------------- log order (properties)

# A pool of one participant's events in log order: ties in occurred_at, two
# partners, answers from the wrong partner and second answers, a retraction
# logged before its original, foreign retractions, retractions of retractions,
# a withdrawal and an answer after it. Which of them break a rule depends on
# which others a history holds.
_ENROL_A = ev("participant.enrolled", "awo-en", day(1), site="witten", gender="male")
_ENROL_C = ev("participant.enrolled", "caritas-witten", day(0), site="hattingen")
_RETRACT_C = retract(_ENROL_C, at=day(3))
_ENROL_B = ev("participant.enrolled", "bobeq", day(1), site="bochum", gender="female")
_FOREIGN_RETRACT = retract(_ENROL_A, partner="bobeq", at=day(2))
_SENT = ev(
    "referral.sent", "awo-en", day(2), referral_id="r1", to_partner="bobeq", service="counselling"
)
_FOREIGN_DECLINE = ev("referral.declined", "jobcenter-en", day(3), referral_id="r1")
_DECLINE = ev("referral.declined", "bobeq", day(4), referral_id="r1", reason="no_capacity")
_RETRACT_DECLINE = retract(_DECLINE, at=day(4, hours=2))
_ACCEPT = ev("referral.accepted", "bobeq", day(4), referral_id="r1")
_WITHDRAW = retract(_SENT, at=day(5))
_UNDO_RETRACT_DECLINE = retract(_RETRACT_DECLINE, at=day(5, hours=1))
_SENT_2 = ev(
    "referral.sent", "bobeq", day(6), referral_id="r2", to_partner="awo-en", service="other"
)
_WITHDRAW_2 = retract(_SENT_2, at=day(7))
_ACCEPT_2 = ev("referral.accepted", "awo-en", day(8), referral_id="r2")
_UNDO_WITHDRAW_2 = retract(_WITHDRAW_2, at=day(9))
_STARTED = ev("training.started", "hwk-dortmund-aba", day(6), training_id="t1")
_DISCONTINUED = ev("training.discontinued", "hwk-dortmund-aba", day(30), training_id="t1")
_COMPLETED = ev("training.completed", "hwk-dortmund-aba", day(30), training_id="t1")
_RESIDENCE = ev("residence_status.changed", "jobcenter-en", day(8), residence_status="duldung")
_PLACE_B = ev("participant.placed", "bobeq", day(20), kind="apprenticeship")
_PLACE_A = ev("participant.placed", "awo-en", day(20), kind="employment")
_RETRACT_PLACE_A = retract(_PLACE_A, at=day(21))
_UNDO_RETRACT_PLACE_A = retract(_RETRACT_PLACE_A, at=day(22))
_EXIT = ev("participant.exited", "awo-en", day(40), situation="job_searching")
_CORRECTION = ev(
    "participant.exited", "awo-en", day(41), recorded=day(50), situation="in_employment"
)
_FOLLOW_UP = ev("participant.followed_up", "awo-en", day(220), situation="in_employment")
_EARLY_RETRACT_FOLLOW_UP = retract(_FOLLOW_UP, at=day(1))

_POOL_EVENTS = [
    _EARLY_RETRACT_FOLLOW_UP,  # logged before its original
    _ENROL_A,
    _ENROL_C,
    _RETRACT_C,
    _ENROL_B,
    _FOREIGN_RETRACT,
    _SENT,
    _FOREIGN_DECLINE,
    _DECLINE,
    _RETRACT_DECLINE,
    _ACCEPT,
    _WITHDRAW,
    _UNDO_RETRACT_DECLINE,
    _SENT_2,
    _WITHDRAW_2,
    _ACCEPT_2,
    _UNDO_WITHDRAW_2,
    _STARTED,
    _DISCONTINUED,
    _COMPLETED,
    _RESIDENCE,
    _PLACE_B,
    _PLACE_A,
    _RETRACT_PLACE_A,
    _UNDO_RETRACT_PLACE_A,
    _EXIT,
    _CORRECTION,
    _FOLLOW_UP,
]
POOL: list[Fact] = at_offsets(*_POOL_EVENTS)
RETRACTION = "event.retracted"


@st.composite
def histories(draw: st.DrawFn) -> list[Fact]:
    """Any part of the pool, in log order."""
    chosen = draw(st.lists(st.sampled_from(POOL), unique_by=lambda f: f.event_id))
    return sorted(chosen, key=lambda f: (f.partition, f.offset))


def counted(rows: ParticipantRows) -> ParticipantRows:
    """The rows without withdrawn referrals, which only their sender sees."""
    kept = [r for r in rows.referrals if r.state != "withdrawn"]
    return ParticipantRows(rows.participant, kept, rows.trainings, rows.links)


def _judged(facts: list[Fact]) -> tuple[ParticipantState, list[Verdict]]:
    state = ParticipantState(PID)
    return state, [apply(state, fact) for fact in facts]


def test_the_whole_pool_holds_applied_and_rejected_events() -> None:
    state, judged = _judged(POOL)

    statuses = {v.status for v in judged}
    assert statuses == {Status.APPLIED, Status.REJECTED}
    assert len(state.facts) + len(state.rejected) == len(POOL)


@settings(max_examples=300)
@given(histories())
def test_every_event_is_either_applied_or_rejected_never_both(history: list[Fact]) -> None:
    state, judged = _judged(history)

    applied = {f.event_id for f, v in zip(history, judged, strict=True) if v == APPLIED}
    assert set(state.facts) == applied
    assert set(state.rejected) == {f.event_id for f in history} - applied
    assert all((v.reason is None) == (v == APPLIED) for v in judged)


@settings(max_examples=300)
@given(histories(), st.data())
def test_re_applying_facts_changes_nothing(history: list[Fact], data: st.DataObject) -> None:
    state, _ = _judged(history)
    before = (derive(state), dict(state.facts), dict(state.rejected))
    replayed = data.draw(st.lists(st.sampled_from(history))) if history else []

    again = [apply(state, fact) for fact in replayed]

    assert again == [DUPLICATE] * len(replayed)
    assert (derive(state), state.facts, state.rejected) == before


@settings(max_examples=300)
@given(histories())
def test_a_state_stored_and_reloaded_before_each_event_judges_the_same(
    history: list[Fact],
) -> None:
    live, judged_live = _judged(history)
    reloaded = ParticipantState(PID)
    judged_reloaded = []
    for fact in history:
        reloaded = ParticipantState.from_json(PID, reloaded.to_json())
        judged_reloaded.append(apply(reloaded, fact))

    assert judged_reloaded == judged_live
    assert (reloaded.facts, reloaded.rejected) == (live.facts, live.rejected)
    assert derive(reloaded) == derive(live)


@settings(max_examples=300)
@given(histories(), st.data())
def test_a_retracted_event_counts_as_if_it_never_happened(
    history: list[Fact], data: st.DataObject
) -> None:
    state, _ = _judged(history)
    if not state.facts:
        return
    target = data.draw(st.sampled_from(sorted(state.facts.values())))
    original_event = _POOL_EVENTS[target.offset]
    (retraction,) = at_offsets(retract(original_event, at=day(300)), partition=1)
    before = derive(state)

    verdict = apply(state, retraction)

    if verdict == APPLIED:
        without = {k: f for k, f in state.facts.items() if k != target.event_id}
        assert counted(derive(state)) == counted(derive(ParticipantState(PID, without)))
    else:  # the only rules a retraction by the emitter of an applied event can break
        reason = verdict.reason or ""
        assert reason.endswith("no longer be withdrawn") or reason.startswith("retracting it")
        assert derive(state) == before
    reloaded = ParticipantState.from_json(PID, state.to_json())
    assert derive(reloaded) == derive(state)


# ------------------------------------------------------------- state JSON


def test_state_json_round_trip_keeps_every_fact_and_rejection() -> None:
    state, _ = _judged(POOL)

    again = ParticipantState.from_json(PID, state.to_json())

    assert again.participant_id == PID
    assert again.facts == state.facts
    assert again.rejected == state.rejected and again.rejected


def test_state_json_is_an_object_of_facts_and_rejections() -> None:
    state, _ = _judged(at_offsets(ev("participant.placed"), ev("participant.enrolled")))

    body = json.loads(state.to_json())

    assert set(body) == {"facts", "rejected"}
    assert [row[1] for row in body["facts"]] == ["participant.enrolled"]
    assert body["rejected"] == [[next(iter(state.rejected)), NOT_ENROLLED]]


def test_state_json_of_the_form_before_rejections_still_reads() -> None:
    facts = at_offsets(ev("participant.enrolled"), ev("participant.placed", at=day(5)))
    old_form = json.dumps(facts, separators=(",", ":"))

    state = ParticipantState.from_json(PID, old_form)

    assert list(state.facts.values()) == facts
    assert state.rejected == {}
    assert derive(state) == derive(state_of(facts))


def test_state_json_round_trip_derives_identically() -> None:
    state, _ = _judged(POOL)

    again = ParticipantState.from_json(PID, state.to_json())

    assert derive(again) == derive(state)


@settings(max_examples=100)
@given(histories(), st.integers(min_value=0, max_value=len(POOL)))
def test_a_state_reloaded_mid_stream_folds_on_like_one_never_stored(
    history: list[Fact], cut: int
) -> None:
    stored_part, _ = _judged(history[:cut])

    reloaded = ParticipantState.from_json(PID, stored_part.to_json())
    for fact in history[cut:]:
        apply(reloaded, fact)

    never_stored, _ = _judged(history)
    assert derive(reloaded) == derive(never_stored)
    assert reloaded.rejected == never_stored.rejected


def test_a_reloaded_state_still_knows_applied_and_rejected_event_ids() -> None:
    state, judged = _judged(POOL)
    reloaded = ParticipantState.from_json(PID, state.to_json())
    rejected = POOL[judged.index(next(v for v in judged if v.status is Status.REJECTED))]

    assert apply(reloaded, POOL[1]) == DUPLICATE
    assert apply(reloaded, rejected) == DUPLICATE


def test_state_json_keeps_times_canonical() -> None:
    state = state_of(at_offsets(ev("participant.enrolled", at=day(1))))

    again = ParticipantState.from_json(PID, state.to_json())

    assert derive(again).participant.first_enrolled_at == stamp(day(1))
