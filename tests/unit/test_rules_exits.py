"""PRODUCT.md "How outcomes are counted": exits, corrections and follow-ups."""

from __future__ import annotations

import datetime as dt

from tests.unit.history import day, ev, fold, retract, stamp
from tests.unit.outcome_events import exited

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
