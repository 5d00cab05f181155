"""The rules that need state, judged by `apply` in log order: each rule and its reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from refnet.events.catalogue import EventModel
from refnet.projections.fold.rules import APPLIED
from tests.unit.history import day, ev, fold, retract, stamp
from tests.unit.outcome_events import (
    NOT_ENROLLED,
    accepted,
    declined,
    enrol,
    rejected,
    sent,
    training,
    verdicts,
)

# ------------------------------------------------------- rules that need state
#
# Judged by `apply` in log order against the live facts before the event. An
# event that breaks one is not applied: the rows are as if it never came.


@pytest.mark.parametrize(
    "event",
    [
        sent(),
        ev("training.started", "hwk-dortmund-aba", day(3), training_id="t1"),
        ev("training.completed", "hwk-dortmund-aba", day(3), training_id="t1"),
        ev("training.discontinued", "hwk-dortmund-aba", day(3), training_id="t1"),
        ev("participant.placed", "bobeq", day(30)),
    ],
    ids=lambda e: e.type,
)
def test_a_referral_training_or_placement_needs_an_enrolled_participant(
    event: EventModel,
) -> None:
    (verdict,), rows = verdicts(event)

    assert verdict == rejected(NOT_ENROLLED)
    assert rows == fold()


def test_an_enrolment_by_any_partner_is_enough() -> None:
    judged, rows = verdicts(enrol("caritas-witten"), sent(by="awo-en"))

    assert judged == [APPLIED, APPLIED]
    assert [r.state for r in rows.referrals] == ["pending"]


def test_after_the_only_enrolment_is_retracted_nothing_new_can_be_sent() -> None:
    enrolment = enrol()

    judged, rows = verdicts(enrolment, retract(enrolment, at=day(2)), sent(at=3))

    assert judged[-1] == rejected(NOT_ENROLLED)
    assert rows.referrals == []


def test_events_that_need_no_enrolment_are_applied_without_one() -> None:
    judged, _ = verdicts(
        ev("residence_status.changed", "jobcenter-en", day(8)),
        ev("participant.exited", "awo-en", day(40), situation="job_searching"),
        ev("participant.followed_up", "awo-en", day(220), situation="in_employment"),
    )

    assert judged == [APPLIED] * 3


def test_an_answer_to_an_unknown_referral_is_rejected() -> None:
    (_, verdict), rows = verdicts(enrol(), accepted(referral_id="never-sent"))

    assert verdict == rejected("no referral never-sent for this participant")
    assert rows.referrals == []


def test_an_answer_logged_before_its_referral_is_rejected() -> None:
    (_, early, _), rows = verdicts(enrol(), accepted(at=5), sent(at=2))

    assert early == rejected("no referral r1 for this participant")
    assert [r.state for r in rows.referrals] == ["pending"]


@pytest.mark.parametrize("answer", [accepted, declined])
@pytest.mark.parametrize("by", ["jobcenter-en", "awo-en"], ids=["a third partner", "the sender"])
def test_only_the_receiving_partner_may_answer(answer: Callable[..., EventModel], by: str) -> None:
    (*_, verdict), rows = verdicts(enrol(), sent(by="awo-en", to="bobeq"), answer(by=by))

    assert verdict == rejected("only bobeq, the receiving partner, may answer referral r1")
    assert [r.state for r in rows.referrals] == ["pending"]


@pytest.mark.parametrize("first", ["accepted", "declined"])
@pytest.mark.parametrize("second", [accepted, declined])
def test_a_referral_gets_no_second_answer(first: str, second: Callable[..., EventModel]) -> None:
    answer = accepted(at=4) if first == "accepted" else declined(at=4)

    (*_, verdict), rows = verdicts(enrol(), sent(), answer, second(at=5))

    assert verdict == rejected(f"referral r1 was already {first}")
    assert [(r.state, r.answered_at) for r in rows.referrals] == [(first, stamp(day(4)))]


def test_a_retraction_of_an_unknown_event_is_rejected() -> None:
    elsewhere = ev("participant.placed", "awo-en", day(2))

    (_, verdict), rows = verdicts(enrol(), retract(elsewhere, at=day(3)))

    assert verdict == rejected(f"no event {elsewhere.event_id} for this participant")
    assert rows == fold(enrol())


def test_a_retraction_logged_before_its_original_is_rejected_and_the_original_stands() -> None:
    enrolment = enrol()

    (early, _), rows = verdicts(retract(enrolment, at=day(2)), enrolment)

    assert early == rejected(f"no event {enrolment.event_id} for this participant")
    assert rows.participant.enrolled is True


@pytest.mark.parametrize("by", ["bobeq", "caritas-witten"])
def test_only_the_emitter_may_retract_an_event(by: str) -> None:
    enrolment = enrol("awo-en")

    (_, verdict), rows = verdicts(enrolment, retract(enrolment, partner=by, at=day(2)))

    assert verdict == rejected(
        f"only awo-en, which emitted event {enrolment.event_id}, may retract it"
    )
    assert rows.participant.enrolled is True


def test_a_rejected_event_cannot_be_retracted() -> None:
    early = ev("participant.placed", "bobeq", day(1))

    (_, _, verdict), _ = verdicts(early, enrol(), retract(early, at=day(2)))

    assert verdict == rejected(f"no event {early.event_id} for this participant")


@pytest.mark.parametrize("answer", [accepted, declined])
def test_an_answered_referral_can_no_longer_be_withdrawn(answer: Callable[..., EventModel]) -> None:
    referral = sent()

    (*_, verdict), rows = verdicts(enrol(), referral, answer(), retract(referral, at=day(5)))

    assert verdict == rejected("referral r1 was already answered; it can no longer be withdrawn")
    assert [r.state for r in rows.referrals] == [answer(at=4).type.removeprefix("referral.")]


def test_a_referral_whose_answer_was_retracted_can_be_withdrawn() -> None:
    referral, answer = sent(), accepted()

    judged, rows = verdicts(
        enrol(), referral, answer, retract(answer, at=day(5)), retract(referral, at=day(6))
    )

    assert judged[-1] == APPLIED
    assert [r.state for r in rows.referrals] == ["withdrawn"]


def test_an_end_of_an_unknown_training_is_rejected() -> None:
    (_, verdict), rows = verdicts(enrol(), training("completed", 60))

    assert verdict == rejected("no training t1 for this participant")
    assert rows.trainings == []


def test_only_the_partner_that_started_a_training_may_end_it() -> None:
    (*_, verdict), rows = verdicts(
        enrol(), training("started", 3), training("discontinued", 9, by="bobeq")
    )

    assert verdict == rejected("only hwk-dortmund-aba, which started training t1, may end it")
    assert [t.outcome for t in rows.trainings] == [None]


@pytest.mark.parametrize("first", ["completed", "discontinued"])
def test_a_training_ends_once(first: str) -> None:
    (*_, verdict), rows = verdicts(
        enrol(), training("started", 3), training(first, 20), training("completed", 30)
    )

    assert verdict == rejected(f"training t1 was already {first}")
    assert [t.ended_at for t in rows.trainings] == [stamp(day(20))]


def test_a_training_whose_end_was_retracted_can_end_again() -> None:
    end = training("discontinued", 20)

    judged, rows = verdicts(
        enrol(), training("started", 3), end, retract(end, at=day(21)), training("completed", 60)
    )

    assert judged[-1] == APPLIED
    assert [t.ended_at for t in rows.trainings] == [stamp(day(60))]


def test_a_retraction_may_not_restore_a_second_answer() -> None:
    first = accepted(at=4)
    undo = retract(first, at=day(5))

    (*_, verdict), rows = verdicts(enrol(), sent(), first, undo, declined(at=6), retract(undo))

    assert verdict == rejected(
        f"retracting it would restore event {first.event_id}, but referral r1 was already declined"
    )
    assert [(r.state, r.answered_at) for r in rows.referrals] == [("declined", stamp(day(6)))]


def test_a_retraction_may_restore_what_breaks_no_rule() -> None:
    first = accepted(at=4)
    undo = retract(first, at=day(5))

    (*_, verdict), rows = verdicts(enrol(), sent(), first, undo, retract(undo))

    assert verdict == APPLIED
    assert [r.state for r in rows.referrals] == ["accepted"]
