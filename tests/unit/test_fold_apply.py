"""The pure fold's `apply`: new facts, duplicates, rejections and the live facts."""

from __future__ import annotations

from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Position, fact_of
from refnet.projections.fold.rules import (
    APPLIED,
    DUPLICATE,
    ParticipantState,
    Status,
    Verdict,
    apply,
    live_facts,
)
from tests.unit.history import PID, at_offsets, day, ev, fold, retract, state_of
from tests.unit.outcome_events import NOT_ENROLLED, stored

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
