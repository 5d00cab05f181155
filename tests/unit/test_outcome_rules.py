"""PRODUCT.md "How outcomes are counted", one participant at a time, through fold + derive.

Network counts are sums over participants, so each rule is pinned here on the
rows of a single participant: its participant row, referrals, trainings and
partner links. "First" is earliest occurred_at, ties broken by log order.

`fold` applies events in log order, so the rules that need state are judged
(see the section at the end: each rule and its reason). `stored` builds a state
without judging, as one stored before the rules were judged in `apply` may be:
derive must still count it right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from refnet.events.catalogue import EventModel
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Fact
from refnet.projections.fold.rows import ParticipantRows, PartnerLinkRow
from refnet.projections.fold.rules import APPLIED, ParticipantState, Status, Verdict, apply
from tests.unit.history import PID, at_offsets, day, ev, fold, retract, stamp

# ------------------------------------------------------------------ helpers


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


# ---------------------------------------------------------------- enrolment


def test_an_enrolment_makes_a_participant_with_its_indicators() -> None:
    enrolled = ev(
        "participant.enrolled",
        "caritas-witten",
        day(1),
        site="witten",
        gender="diverse",
        age_band="30_54",
        education_level="isced_3_4",
        employment_status="long_term_unemployed",
        third_country_national=False,
        residence_status="aufenthaltsgestattung",
    )

    row = fold(enrolled).participant

    assert row.enrolled is True
    assert row.first_enrolled_at == stamp(day(1))
    assert (row.site, row.first_partner) == ("witten", "caritas-witten")
    assert (row.gender, row.age_band) == ("diverse", "30_54")
    assert (row.education_level, row.employment_status) == ("isced_3_4", "long_term_unemployed")
    assert row.third_country_national == "false"
    assert row.residence_status == "aufenthaltsgestattung"


def test_a_refused_answer_is_kept_as_refused() -> None:
    row = fold(ev("participant.enrolled", gender="refused", third_country_national="refused"))

    assert row.participant.gender == "refused"
    assert row.participant.third_country_national == "refused"


def test_the_first_enrolment_is_the_earliest_occurred_at_not_the_first_logged() -> None:
    later = ev("participant.enrolled", "awo-en", day(5), site="schwelm", gender="male")
    earlier = ev("participant.enrolled", "bobeq", day(2), site="bochum", gender="female")

    row = fold(later, earlier).participant

    assert row.first_enrolled_at == stamp(day(2))
    assert (row.site, row.first_partner, row.gender) == ("bochum", "bobeq", "female")


def test_enrolments_at_the_same_instant_are_ordered_by_log_offset() -> None:
    logged_first = ev("participant.enrolled", "awo-en", day(2), site="schwelm", age_band="18_29")
    logged_second = ev("participant.enrolled", "bobeq", day(2), site="bochum", age_band="55_plus")
    facts = at_offsets(logged_first, logged_second)

    row = derive(stored(facts[::-1])).participant  # held in the other order

    assert (row.site, row.first_partner, row.age_band) == ("schwelm", "awo-en", "18_29")


def test_a_person_enrolled_by_two_partners_is_one_participant_with_two_enrolled_links() -> None:
    by_awo = ev("participant.enrolled", "awo-en", day(1))
    by_caritas = ev("participant.enrolled", "caritas-witten", day(3))

    rows = fold(by_awo, by_caritas)

    assert rows.participant.first_partner == "awo-en"
    assert rows.links == [
        PartnerLinkRow("awo-en", rows.participant.participant_id, "enrolled", stamp(day(1))),
        PartnerLinkRow(
            "caritas-witten", rows.participant.participant_id, "enrolled", stamp(day(3))
        ),
    ]


def test_a_partner_enrolling_twice_has_one_link_since_its_first_enrolment() -> None:
    rows = fold(
        ev("participant.enrolled", "awo-en", day(9)),
        ev("participant.enrolled", "awo-en", day(4)),
    )

    assert [(link.role, link.since) for link in rows.links] == [("enrolled", stamp(day(4)))]


def test_retracting_the_first_enrolment_makes_the_second_the_first() -> None:
    first = ev("participant.enrolled", "awo-en", day(1), site="schwelm", gender="male")
    second = ev("participant.enrolled", "bobeq", day(3), site="bochum", gender="female")

    rows = fold(first, second, retract(first, at=day(4)))

    row = rows.participant
    assert row.enrolled is True
    assert (row.first_enrolled_at, row.site, row.first_partner, row.gender) == (
        stamp(day(3)),
        "bochum",
        "bobeq",
        "female",
    )
    assert links(rows.links) == {("bobeq", "enrolled")}


def test_retracting_the_only_enrolment_leaves_no_participant() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))

    row = fold(enrolled, retract(enrolled, at=day(2))).participant

    assert row.enrolled is False
    assert (row.first_enrolled_at, row.site, row.first_partner, row.gender) == (None,) * 4


def test_an_enrolment_retracted_by_another_partner_still_counts() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))

    row = fold(enrolled, retract(enrolled, partner="caritas-witten", at=day(2))).participant

    assert row.enrolled is True


# ---------------------------------------------------------- residence status


def test_the_residence_status_is_the_enrolment_value_without_a_change() -> None:
    row = fold(ev("participant.enrolled", residence_status="duldung")).participant

    assert row.residence_status == "duldung"


def test_the_latest_residence_status_change_wins_over_the_enrolment_value() -> None:
    rows = fold(
        ev("participant.enrolled", "awo-en", day(1), residence_status="duldung"),
        ev(
            "residence_status.changed",
            "jobcenter-en",
            day(40),
            residence_status="niederlassungserlaubnis",
        ),
        ev("residence_status.changed", "awo-en", day(20), residence_status="aufenthaltserlaubnis"),
    )

    assert rows.participant.residence_status == "niederlassungserlaubnis"


def test_a_retracted_residence_status_change_falls_back_to_the_one_before() -> None:
    earlier = ev("residence_status.changed", "awo-en", day(10), residence_status="duldung")
    later = ev(
        "residence_status.changed", "awo-en", day(20), residence_status="aufenthaltserlaubnis"
    )

    rows = fold(
        ev("participant.enrolled", "awo-en", day(1), residence_status="aufenthaltsgestattung"),
        earlier,
        later,
        retract(later, at=day(21)),
    )

    assert rows.participant.residence_status == "duldung"


# ---------------------------------------------------------------- placement


def test_a_placement_marks_the_participant_placed() -> None:
    rows = fold(
        ev("participant.enrolled", "awo-en", day(1)),
        ev("participant.placed", "bobeq", day(30), kind="employment"),
    )

    row = rows.participant
    assert (row.placed_at, row.placement_kind, row.placement_partner) == (
        stamp(day(30)),
        "employment",
        "bobeq",
    )
    assert ("bobeq", "placed") in links(rows.links)


def test_the_first_placement_by_occurred_at_decides_the_kind() -> None:
    row = fold(
        enrol(),
        ev("participant.placed", "awo-en", day(40), kind="employment"),
        ev("participant.placed", "bobeq", day(30), kind="apprenticeship"),
    ).participant

    assert (row.placed_at, row.placement_kind, row.placement_partner) == (
        stamp(day(30)),
        "apprenticeship",
        "bobeq",
    )


def test_placements_at_the_same_instant_are_ordered_by_log_offset() -> None:
    facts = at_offsets(
        enrol(),
        ev("participant.placed", "awo-en", day(30), kind="employment"),
        ev("participant.placed", "bobeq", day(30), kind="apprenticeship"),
    )

    row = derive(stored(facts[::-1])).participant  # held in the other order

    assert (row.placement_kind, row.placement_partner) == ("employment", "awo-en")


def test_a_placement_reported_by_two_partners_is_placed_once_with_two_placed_links() -> None:
    rows = fold(
        enrol(),
        ev("participant.placed", "awo-en", day(30), kind="employment"),
        ev("participant.placed", "bobeq", day(31), kind="employment"),
    )

    assert rows.participant.placed_at == stamp(day(30))
    assert [(link.partner_id, link.role, link.since) for link in rows.links] == [
        ("awo-en", "enrolled", stamp(day(1))),
        ("awo-en", "placed", stamp(day(30))),
        ("bobeq", "placed", stamp(day(31))),
    ]


def test_a_retracted_placement_is_not_a_placement() -> None:
    placed = ev("participant.placed", "bobeq", day(30))

    rows = fold(ev("participant.enrolled", "awo-en", day(1)), placed, retract(placed, at=day(31)))

    row = rows.participant
    assert (row.placed_at, row.placement_kind, row.placement_partner) == (None, None, None)
    assert links(rows.links) == {("awo-en", "enrolled")}


def test_retracting_the_first_placement_lets_the_second_decide() -> None:
    first = ev("participant.placed", "awo-en", day(30), kind="employment")
    second = ev("participant.placed", "bobeq", day(35), kind="apprenticeship")

    row = fold(enrol(), first, second, retract(first, at=day(36))).participant

    assert (row.placed_at, row.placement_kind, row.placement_partner) == (
        stamp(day(35)),
        "apprenticeship",
        "bobeq",
    )


def test_a_stored_placement_without_an_enrolment_is_kept_but_not_enrolled() -> None:
    row = derive(stored(at_offsets(ev("participant.placed", "bobeq", day(30))))).participant

    assert row.enrolled is False
    assert row.placed_at == stamp(day(30))


# ---------------------------------------------------------------- referrals


def test_a_referral_without_an_answer_is_pending() -> None:
    (referral,) = fold(enrol(), sent()).referrals

    assert referral.state == "pending"
    assert (referral.answered_at, referral.decline_reason, referral.withdrawn_at) == (None,) * 3
    assert (referral.from_partner, referral.to_partner, referral.service) == (
        "awo-en",
        "bobeq",
        "counselling",
    )
    assert (referral.referral_id, referral.sent_at, referral.site) == (
        "r1",
        stamp(day(2)),
        "schwelm",
    )


def test_an_accepted_referral_is_accepted_with_its_answer_time() -> None:
    (referral,) = fold(enrol(), sent(at=2), accepted(at=5)).referrals

    assert (referral.state, referral.answered_at) == ("accepted", stamp(day(5)))
    assert referral.decline_reason is None


def test_a_declined_referral_is_declined_with_its_reason() -> None:
    (referral,) = fold(enrol(), sent(at=2), declined(at=6, reason="not_eligible")).referrals

    assert (referral.state, referral.answered_at) == ("declined", stamp(day(6)))
    assert referral.decline_reason == "not_eligible"


def test_only_the_first_logged_answer_counts_a_second_is_rejected() -> None:
    (_, _, first, second), rows = verdicts(enrol(), sent(), declined(at=9), accepted(at=5))

    assert (first, second) == (APPLIED, rejected("referral r1 was already declined"))
    assert (rows.referrals[0].state, rows.referrals[0].answered_at) == ("declined", stamp(day(9)))


def test_of_two_stored_answers_the_first_by_occurred_at_counts() -> None:
    facts = at_offsets(enrol(), sent(), declined(at=9), accepted(at=5))

    (referral,) = derive(stored(facts)).referrals

    assert (referral.state, referral.answered_at) == ("accepted", stamp(day(5)))


def test_stored_answers_at_the_same_instant_are_ordered_by_log_offset() -> None:
    facts = at_offsets(enrol(), sent(), declined(at=5), accepted(at=5))

    (referral,) = derive(stored(facts[::-1])).referrals

    assert referral.state == "declined"


def test_a_stored_answer_from_a_partner_other_than_the_receiver_is_ignored() -> None:
    facts = at_offsets(enrol(), sent(to="bobeq"), accepted(by="jobcenter-en"))

    (referral,) = derive(stored(facts)).referrals

    assert referral.state == "pending"


def test_a_wrong_partners_earlier_answer_does_not_shadow_the_receivers() -> None:
    (referral,) = fold(enrol(), sent(), accepted(by="jobcenter-en", at=3), declined(at=6)).referrals

    assert (referral.state, referral.answered_at) == ("declined", stamp(day(6)))


def test_a_retracted_answer_leaves_the_referral_pending() -> None:
    answer = accepted(at=5)

    rows = fold(enrol(), sent(), answer, retract(answer, at=day(6)))

    assert rows.referrals[0].state == "pending"
    assert ("bobeq", "accepted") not in links(rows.links)


def test_retracting_the_answer_lets_a_new_answer_count() -> None:
    first = accepted(at=5)

    (referral,) = fold(enrol(), sent(), first, retract(first, at=day(6)), declined(at=7)).referrals

    assert (referral.state, referral.answered_at) == ("declined", stamp(day(7)))


def test_each_referral_id_is_answered_on_its_own() -> None:
    rows = fold(
        enrol(),
        sent("r1", to="bobeq"),
        sent("r2", to="caritas-witten", at=3),
        sent("r3", to="jobcenter-en", at=4),
        accepted("r1", by="bobeq"),
        declined("r2", by="caritas-witten"),
    )

    assert {(r.referral_id, r.to_partner, r.state) for r in rows.referrals} == {
        ("r1", "bobeq", "accepted"),
        ("r2", "caritas-witten", "declined"),
        ("r3", "jobcenter-en", "pending"),
    }


def test_a_referral_id_sent_twice_is_one_referral_the_first_sent() -> None:
    (referral,) = fold(enrol(), sent(to="bobeq", at=3), sent(to="caritas-witten", at=2)).referrals

    assert (referral.to_partner, referral.sent_at) == ("caritas-witten", stamp(day(2)))


def test_an_accepted_referral_links_the_receiver_since_the_answer() -> None:
    rows = fold(enrol(at=1), sent(to="bobeq"), accepted(at=6))

    assert [(link.partner_id, link.role, link.since) for link in rows.links] == [
        ("awo-en", "enrolled", stamp(day(1))),
        ("bobeq", "accepted", stamp(day(6))),
    ]


def test_a_partner_accepting_two_referrals_is_linked_since_the_earlier_answer() -> None:
    rows = fold(
        enrol("bobeq"),
        sent("r1", to="bobeq", at=2),
        sent("r2", to="bobeq", at=3),
        accepted("r1", at=9),
        accepted("r2", at=5),
    )

    assert [(link.role, link.since) for link in rows.links] == [
        ("accepted", stamp(day(5))),
        ("enrolled", stamp(day(1))),
    ]


@pytest.mark.parametrize("answer", [None, "declined"])
def test_a_referral_that_is_not_accepted_links_nobody(answer: str | None) -> None:
    events = [enrol(), sent()] + ([declined()] if answer else [])

    assert links(fold(*events).links) == {("awo-en", "enrolled")}


# ---------------------------------------------------------------- withdrawals


def test_a_withdrawn_referral_is_shown_as_withdrawn_to_its_sender() -> None:
    referral = sent(at=2)

    (row,) = fold(enrol(), referral, retract(referral, at=day(3))).referrals

    assert (row.state, row.withdrawn_at) == ("withdrawn", stamp(day(3)))
    assert (row.answered_at, row.decline_reason) == (None, None)
    assert (row.referral_id, row.from_partner, row.to_partner, row.sent_at) == (
        "r1",
        "awo-en",
        "bobeq",
        stamp(day(2)),
    )


def test_a_withdrawn_referral_can_no_longer_be_answered() -> None:
    referral = sent()

    judged, rows = verdicts(enrol(), referral, retract(referral, at=day(3)), accepted(at=4))

    assert judged[-1] == rejected("no referral r1 for this participant")
    assert [r.state for r in rows.referrals] == ["withdrawn"]
    assert ("bobeq", "accepted") not in links(rows.links)


def test_retracting_the_withdrawal_makes_the_referral_pending_again() -> None:
    referral = sent()
    withdrawal = retract(referral, at=day(3))

    (row,) = fold(enrol(), referral, withdrawal, retract(withdrawal, at=day(4))).referrals

    assert (row.state, row.withdrawn_at) == ("pending", None)


def test_a_referral_withdrawn_once_of_two_sends_with_its_id_stays_sent() -> None:
    first = sent(to="bobeq", at=2)

    (row,) = fold(enrol(), first, sent(to="bobeq", at=3), retract(first, at=day(4))).referrals

    assert (row.state, row.sent_at) == ("pending", stamp(day(3)))


def test_a_stored_withdrawal_of_an_answered_referral_hides_its_answer() -> None:
    referral = sent()
    facts = at_offsets(enrol(), referral, accepted(), retract(referral, at=day(5)))

    rows = derive(stored(facts))

    assert [(r.state, r.answered_at) for r in rows.referrals] == [("withdrawn", None)]
    assert links(rows.links) == {("awo-en", "enrolled")}


# ---------------------------------------------------------------- trainings


def training(
    step: str, at: int, by: str = "hwk-dortmund-aba", tid: str = "t1", **data: Any
) -> EventModel:
    return ev(f"training.{step}", by, day(at), training_id=tid, **data)


def test_a_started_training_is_open() -> None:
    (row,) = fold(enrol(), training("started", 3, kind="vocational_qualification")).trainings

    assert (row.training_id, row.partner_id, row.kind) == (
        "t1",
        "hwk-dortmund-aba",
        "vocational_qualification",
    )
    assert (row.started_at, row.ended_at, row.outcome) == (stamp(day(3)), None, None)


def test_a_training_completed_with_a_qualification_is_qualified() -> None:
    (row,) = fold(
        enrol(), training("started", 3), training("completed", 60, qualification_gained=True)
    ).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(60)), "qualified")


def test_a_training_completed_without_a_qualification_is_completed() -> None:
    (row,) = fold(
        enrol(), training("started", 3), training("completed", 60, qualification_gained=False)
    ).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(60)), "completed")


def test_a_discontinued_training_is_discontinued() -> None:
    (row,) = fold(enrol(), training("started", 3), training("discontinued", 20)).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(20)), "discontinued")


def test_retracting_the_completion_reopens_the_training() -> None:
    completion = training("completed", 60)

    (row,) = fold(
        enrol(), training("started", 3), completion, retract(completion, at=day(61))
    ).trainings

    assert (row.ended_at, row.outcome) == (None, None)


def test_the_first_logged_end_of_a_training_counts_a_second_is_rejected() -> None:
    judged, rows = verdicts(
        enrol(),
        training("started", 3),
        training("completed", 60, qualification_gained=True),
        training("discontinued", 20),
    )

    assert judged[-1] == rejected("training t1 was already completed")
    assert [(t.ended_at, t.outcome) for t in rows.trainings] == [(stamp(day(60)), "qualified")]


def test_of_two_stored_ends_of_a_training_the_first_by_occurred_at_counts() -> None:
    facts = at_offsets(
        enrol(),
        training("started", 3),
        training("completed", 60, qualification_gained=True),
        training("discontinued", 20),
    )

    (row,) = derive(stored(facts)).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(20)), "discontinued")


def test_a_retracted_start_removes_the_training() -> None:
    start = training("started", 3)

    rows = fold(enrol(), start, training("completed", 60), retract(start, at=day(4)))

    assert rows.trainings == []


def test_a_stored_end_without_a_start_is_not_a_training() -> None:
    assert derive(stored(at_offsets(enrol(), training("completed", 60)))).trainings == []


def test_each_training_id_is_tracked_on_its_own() -> None:
    rows = fold(
        enrol(),
        training("started", 3, tid="lang"),
        training("started", 5, tid="qual"),
        training("discontinued", 9, tid="lang"),
    )

    assert {(t.training_id, t.outcome, t.ended_at) for t in rows.trainings} == {
        ("lang", "discontinued", stamp(day(9))),
        ("qual", None, None),
    }


# --------------------------------------------------------------------- exits


def test_no_exit_means_no_leaving_situation() -> None:
    row = fold(ev("participant.enrolled")).participant

    assert (row.exited_at, row.leaving_situation, row.followup_situation) == (None, None, None)


def test_an_exit_gives_the_exit_time_and_situation() -> None:
    row = fold(exited("job_searching", day(50))).participant

    assert (row.exited_at, row.leaving_situation) == (stamp(day(50)), "job_searching")


def test_a_correction_recorded_within_four_weeks_replaces_the_situation() -> None:
    row = fold(
        exited("job_searching", day(50)),
        exited("in_employment", day(52), recorded=day(50 + 27)),
    ).participant

    assert (row.exited_at, row.leaving_situation) == (stamp(day(50)), "in_employment")


def test_a_correction_recorded_after_four_weeks_does_not_count() -> None:
    row = fold(
        exited("job_searching", day(50)),
        exited("in_employment", day(52), recorded=day(50 + 29)),
    ).participant

    assert (row.exited_at, row.leaving_situation) == (stamp(day(50)), "job_searching")


def test_the_last_recorded_fact_in_the_window_counts_not_the_last_occurred() -> None:
    row = fold(
        exited("job_searching", day(50)),
        exited("in_employment", day(55), recorded=day(56)),
        exited("in_education_or_training", day(53), recorded=day(60)),
    ).participant

    assert row.leaving_situation == "in_education_or_training"


def test_the_window_runs_from_the_earliest_exit_whatever_the_log_order() -> None:
    row = fold(
        exited("in_employment", day(60)),
        exited("job_searching", day(50), recorded=day(51)),
    ).participant

    assert row.exited_at == stamp(day(50))
    assert row.leaving_situation == "in_employment"  # recorded on day 60, within the window


def test_a_second_exit_months_later_does_not_change_the_situation_on_leaving() -> None:
    row = fold(
        exited("job_searching", day(50)),
        ev("participant.enrolled", "awo-en", day(70)),
        exited("in_employment", day(90)),
    ).participant

    assert (row.exited_at, row.leaving_situation) == (stamp(day(50)), "job_searching")


def test_a_retracted_exit_does_not_count() -> None:
    wrong = exited("job_searching", day(50))

    row = fold(wrong, retract(wrong, at=day(51))).participant

    assert (row.exited_at, row.leaving_situation) == (None, None)


def test_a_retracted_correction_restores_the_exit_situation() -> None:
    correction = exited("in_employment", day(52), recorded=day(53))

    row = fold(
        exited("job_searching", day(50)), correction, retract(correction, at=day(54))
    ).participant

    assert row.leaving_situation == "job_searching"


def test_an_exit_near_the_end_of_the_calendar_does_not_crash_the_fold() -> None:
    late = dt.datetime(9999, 12, 20, tzinfo=dt.UTC)

    row = fold(exited("job_searching", late)).participant

    assert (row.exited_at, row.leaving_situation) == (stamp(late), "job_searching")


def test_the_follow_up_situation_is_the_last_follow_up_of_the_six_month_window() -> None:
    row = fold(
        exited("job_searching", day(40)),
        ev("participant.followed_up", "awo-en", day(230), situation="in_employment"),
        ev("participant.followed_up", "awo-en", day(210), situation="job_searching"),
    ).participant

    assert row.followup_situation == "in_employment"  # 190 days after leaving, the later


def test_a_retracted_follow_up_falls_back_to_the_one_before() -> None:
    last = ev("participant.followed_up", "awo-en", day(230), situation="in_employment")

    row = fold(
        exited("job_searching", day(40)),
        ev("participant.followed_up", "awo-en", day(210), situation="job_searching"),
        last,
        retract(last, at=day(231)),
    ).participant

    assert row.followup_situation == "job_searching"


# ------------------------------------------------------------- partner links


def test_the_links_list_every_role_once_per_partner_in_a_stable_order() -> None:
    rows = fold(
        ev("participant.enrolled", "bobeq", day(2)),
        ev("participant.placed", "bobeq", day(40)),
        ev("participant.enrolled", "awo-en", day(1)),
        sent(by="awo-en", to="bobeq"),
        accepted(by="bobeq", at=5),
    )

    assert [(link.partner_id, link.role, link.since) for link in rows.links] == [
        ("awo-en", "enrolled", stamp(day(1))),
        ("bobeq", "accepted", stamp(day(5))),
        ("bobeq", "enrolled", stamp(day(2))),
        ("bobeq", "placed", stamp(day(40))),
    ]


# ------------------------------------------------------- rules that need state
#
# Judged by `apply` in log order against the live facts before the event. An
# event that breaks one is not applied: the rows are as if it never came.

NOT_ENROLLED = f"participant {PID} is not enrolled"


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
