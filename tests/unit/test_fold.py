"""The mechanics of the pure fold: idempotent apply, retractions, order independence, state JSON.

One participant at a time; events are real catalogue events (see `history.py`),
log positions are chosen by each test. The counting rules built on top are in
`test_outcome_rules.py`.
"""

from __future__ import annotations

import pytest
from history import PID, at_offsets, day, ev, event_id, fold, retract, stamp, state_of
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet.events.catalogue import EventModel
from refnet.projections.facts import Fact, Position, fact_of
from refnet.projections.fold import (
    ParticipantState,
    apply,
    derive,
    live_facts,
    retracted_ids,
)

# ------------------------------------------------------------------ apply


def test_apply_adds_a_new_fact_and_reports_it() -> None:
    state = ParticipantState(PID)
    (enrolled,) = at_offsets(ev("participant.enrolled"))

    assert apply(state, enrolled) is True
    assert list(state.facts.values()) == [enrolled]


def test_a_duplicate_event_id_is_a_no_op() -> None:
    enrolled, placed = at_offsets(ev("participant.enrolled"), ev("participant.placed", at=day(5)))
    state = state_of([enrolled, placed])
    before = derive(state)

    assert apply(state, enrolled) is False
    assert apply(state, placed) is False

    assert derive(state) == before
    assert len(state.facts) == 2


def test_a_redelivery_at_a_later_offset_keeps_the_first_copy() -> None:
    event = ev("participant.enrolled", "awo-en", day(1))
    first = fact_of(event, Position(0, 3))
    state = state_of([first])

    assert apply(state, fact_of(event, Position(0, 9))) is False

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


# ------------------------------------------------------------- live facts


def test_live_facts_are_in_first_order_occurred_at_then_log_order() -> None:
    late = ev("participant.placed", at=day(9))
    tie_b = ev("training.started", at=day(2), training_id="b")
    tie_a = ev("training.started", at=day(2), training_id="a")
    early = ev("participant.enrolled", at=day(1))
    facts = at_offsets(late, tie_b, tie_a, early)

    live = live_facts(state_of(reversed(facts)))

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


def test_a_retraction_by_another_partner_is_ignored() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))

    rows = fold(enrolled, retract(enrolled, partner="bobeq", at=day(2)))

    assert rows.participant.enrolled is True


def test_a_retraction_logged_before_its_original_still_takes_effect() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    retraction = retract(enrolled, at=day(2))

    rows = fold(retraction, enrolled)  # the retraction has the lower offset

    assert rows.participant.enrolled is False


def test_a_retraction_applied_before_its_original_still_takes_effect() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    original, retraction = at_offsets(enrolled, retract(enrolled, at=day(2)))
    state = state_of([retraction])
    assert retracted_ids(state.facts) == set()

    apply(state, original)

    assert retracted_ids(state.facts) == {original.event_id}
    assert derive(state).participant.enrolled is False


def test_a_retraction_whose_original_never_arrives_changes_nothing() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    elsewhere = ev("participant.placed", "awo-en", day(2))

    rows = fold(enrolled, retract(elsewhere, at=day(3)))

    assert rows == fold(enrolled)


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


@pytest.mark.timeout(10)
def test_a_retraction_cycle_terminates_and_leaves_real_facts_alone() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    one = _retraction_of("cycle-two", key="cycle-one")
    two = _retraction_of("cycle-one", key="cycle-two")

    rows = fold(enrolled, one, two)

    assert rows == fold(enrolled)


@pytest.mark.timeout(10)
def test_a_retraction_that_retracts_itself_terminates() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    selfish = _retraction_of("selfish", key="selfish")

    rows = fold(enrolled, selfish)

    assert rows.participant.enrolled is True


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)])
def test_a_retraction_cycle_does_not_make_derive_depend_on_apply_order(
    order: tuple[int, ...],
) -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    undo = retract(enrolled, at=day(2))
    one = _retraction_of("loop-two", key="loop-one")
    two = _retraction_of("loop-one", key="loop-two")
    facts = at_offsets(enrolled, undo, one, two)

    rows = derive(state_of(facts[i] for i in order))

    assert rows.participant.enrolled is False


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


# ------------------------------------------------- order independence (property)

# A pool of one participant's events with fixed log positions: ties in occurred_at,
# two partners, answers from the wrong partner, retractions logged before their
# originals, foreign retractions, retractions of retractions.
_ENROL_A = ev("participant.enrolled", "awo-en", day(1), site="witten", gender="male")
_ENROL_B = ev("participant.enrolled", "bobeq", day(1), site="bochum", gender="female")
_ENROL_C = ev("participant.enrolled", "caritas-witten", day(0), site="hattingen")
_RETRACT_C = retract(_ENROL_C, at=day(3))
_PLACE_A = ev("participant.placed", "awo-en", day(20), kind="employment")
_PLACE_B = ev("participant.placed", "bobeq", day(20), kind="apprenticeship")
_RETRACT_PLACE_A = retract(_PLACE_A, at=day(21))
_UNDO_RETRACT_PLACE_A = retract(_RETRACT_PLACE_A, at=day(22))
_SENT = ev(
    "referral.sent", "awo-en", day(2), referral_id="r1", to_partner="bobeq", service="counselling"
)
_ACCEPT = ev("referral.accepted", "bobeq", day(4), referral_id="r1")
_DECLINE = ev("referral.declined", "bobeq", day(4), referral_id="r1", reason="no_capacity")
_FOREIGN_DECLINE = ev("referral.declined", "jobcenter-en", day(3), referral_id="r1")
_RETRACT_ACCEPT = retract(_ACCEPT, at=day(5))
_STARTED = ev("training.started", "hwk-dortmund-aba", day(6), training_id="t1")
_COMPLETED = ev("training.completed", "hwk-dortmund-aba", day(30), training_id="t1")
_DISCONTINUED = ev("training.discontinued", "hwk-dortmund-aba", day(30), training_id="t1")
_RESIDENCE = ev("residence_status.changed", "jobcenter-en", day(8), residence_status="duldung")
_EXIT = ev("participant.exited", "awo-en", day(40), situation="job_searching")
_CORRECTION = ev(
    "participant.exited", "awo-en", day(41), recorded=day(50), situation="in_employment"
)
_FOLLOW_UP = ev("participant.followed_up", "awo-en", day(220), situation="in_employment")
_FOREIGN_RETRACT = retract(_ENROL_A, partner="bobeq", at=day(2))

_POOL_EVENTS = [
    _RETRACT_C,  # logged before its original
    _ENROL_A,
    _ENROL_B,
    _ENROL_C,
    _FOREIGN_RETRACT,
    _SENT,
    _FOREIGN_DECLINE,
    _DECLINE,
    _ACCEPT,
    _RETRACT_ACCEPT,
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


def _in_log_order(facts: list[Fact]) -> list[Fact]:
    return sorted(facts, key=lambda f: (f.partition, f.offset))


@st.composite
def subset_and_shuffle(draw: st.DrawFn) -> tuple[list[Fact], list[Fact]]:
    chosen = draw(st.lists(st.sampled_from(POOL), unique_by=lambda f: f.event_id))
    return _in_log_order(chosen), draw(st.permutations(chosen))


@settings(max_examples=300)
@given(st.permutations(POOL))
def test_the_whole_pool_derives_the_same_in_any_apply_order(shuffled: list[Fact]) -> None:
    assert derive(state_of(shuffled)) == derive(state_of(POOL))


@settings(max_examples=300)
@given(subset_and_shuffle())
def test_any_part_of_the_history_derives_the_same_in_any_apply_order(
    orders: tuple[list[Fact], list[Fact]],
) -> None:
    in_log_order, shuffled = orders

    assert derive(state_of(shuffled)) == derive(state_of(in_log_order))


@settings(max_examples=300)
@given(subset_and_shuffle(), st.data())
def test_re_applying_facts_changes_nothing(
    orders: tuple[list[Fact], list[Fact]], data: st.DataObject
) -> None:
    in_log_order, shuffled = orders
    replayed = data.draw(st.lists(st.sampled_from(in_log_order))) if in_log_order else []

    assert derive(state_of(shuffled + replayed)) == derive(state_of(in_log_order))


@settings(max_examples=300)
@given(subset_and_shuffle(), st.data())
def test_a_retracted_event_counts_as_if_it_never_happened(
    orders: tuple[list[Fact], list[Fact]], data: st.DataObject
) -> None:
    in_log_order, shuffled = orders
    originals = [f for f in in_log_order if f.type != RETRACTION]
    if not originals:
        return
    target = data.draw(st.sampled_from(originals))
    original_event = _POOL_EVENTS[target.offset]
    (retraction,) = at_offsets(retract(original_event, at=day(300)), partition=1)

    with_retraction = derive(state_of([*shuffled, retraction]))
    without_it = derive(state_of(f for f in in_log_order if f != target))

    assert with_retraction == without_it


# ------------------------------------------------------------- state JSON


def test_state_json_round_trip_keeps_every_fact() -> None:
    state = state_of(POOL)

    again = ParticipantState.from_json(PID, state.to_json())

    assert again.participant_id == PID
    assert again.facts == state.facts


def test_state_json_round_trip_derives_identically() -> None:
    state = state_of(POOL)

    again = ParticipantState.from_json(PID, state.to_json())

    assert derive(again) == derive(state)


@settings(max_examples=100)
@given(subset_and_shuffle(), st.integers(min_value=0, max_value=len(POOL)))
def test_a_state_reloaded_mid_stream_folds_on_like_one_never_stored(
    orders: tuple[list[Fact], list[Fact]], cut: int
) -> None:
    _, shuffled = orders
    stored = state_of(shuffled[:cut])

    reloaded = ParticipantState.from_json(PID, stored.to_json())
    for fact in shuffled[cut:]:
        apply(reloaded, fact)

    assert derive(reloaded) == derive(state_of(shuffled))


def test_a_reloaded_state_still_rejects_duplicates() -> None:
    state = ParticipantState.from_json(PID, state_of(POOL).to_json())

    assert apply(state, POOL[0]) is False


def test_state_json_keeps_times_canonical() -> None:
    state = state_of(at_offsets(ev("participant.enrolled", at=day(1))))

    again = ParticipantState.from_json(PID, state.to_json())

    assert derive(again).participant.first_enrolled_at == stamp(day(1))
