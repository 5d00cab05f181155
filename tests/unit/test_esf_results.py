"""PRODUCT.md "The ESF+ report": the situation on leaving and six months later."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.esf_history import (
    enrolled,
    exited,
    followed_up,
    leaving_of,
    person,
    report,
    six_months_of,
)
from tests.unit.history import day, retract, stamp

# ------------------------------------------------------------------ leaving


def test_the_leaving_date_is_the_first_non_retracted_exit() -> None:
    mistaken = exited("other", day(20))
    row = person(enrolled(), mistaken, retract(mistaken, at=day(21)), exited("other", day(60)))

    assert row.exited_at == stamp(day(60))
    assert report(row, start=day(21)).results_on_leaving.left.total == 1
    assert report(row, end=day(21)).results_on_leaving.left.total == 0


def test_a_person_without_an_exit_has_not_left() -> None:
    counted = report(person(enrolled(), followed_up("in_employment", day(200))))

    assert counted.results_on_leaving.left.total == 0
    assert counted.results_six_months.followed_up.total == 0


def test_a_retracted_exit_is_no_leaving() -> None:
    wrong = exited("in_employment", day(40))

    assert leaving_of(enrolled(), wrong, retract(wrong, at=day(41))) is None


def test_the_exit_recorded_last_within_28_days_gives_the_situation() -> None:
    assert (
        leaving_of(
            enrolled(),
            exited("job_searching", day(40)),
            exited("in_employment", day(45), recorded=day(60)),
            exited("other", day(44), recorded=day(50)),  # logged later, recorded earlier
        )
        == "in_employment"
    )


def test_the_28_days_bound_is_inclusive() -> None:
    on_the_day = exited("in_employment", day(41), recorded=day(40 + 28))
    just_after = exited("in_employment", day(41), recorded=day(40 + 28) + dt.timedelta(seconds=1))

    assert leaving_of(enrolled(), exited("job_searching", day(40)), on_the_day) == "in_employment"
    assert leaving_of(enrolled(), exited("job_searching", day(40)), just_after) == "job_searching"


def test_exits_recorded_at_the_same_instant_are_ordered_by_log_position() -> None:
    first = exited("job_searching", day(40), recorded=day(45))
    second = exited("gained_qualification", day(41), recorded=day(45))

    assert leaving_of(enrolled(), first, second) == "gained_qualification"
    assert leaving_of(enrolled(), second, first) == "job_searching"


def test_without_an_exit_recorded_within_28_days_the_first_exit_counts() -> None:
    assert (
        leaving_of(
            enrolled(),
            exited("job_searching", day(40), recorded=day(80)),
            exited("in_employment", day(42), recorded=day(85)),
        )
        == "job_searching"
    )


def test_a_retracted_correction_leaves_the_first_exit_situation() -> None:
    correction = exited("in_employment", day(41), recorded=day(50))

    assert (
        leaving_of(
            enrolled(),
            exited("job_searching", day(40)),
            correction,
            retract(correction, at=day(52)),
        )
        == "job_searching"
    )


# ------------------------------------------------------------------ six months


@pytest.mark.parametrize(
    ("after", "counted"),
    [
        (dt.timedelta(days=149), False),
        (dt.timedelta(days=150) - dt.timedelta(seconds=1), False),
        (dt.timedelta(days=150), True),
        (dt.timedelta(days=195), True),
        (dt.timedelta(days=240), True),
        (dt.timedelta(days=240, seconds=1), False),
        (dt.timedelta(days=241), False),
    ],
)
def test_a_follow_up_counts_from_150_to_240_days_after_leaving(
    after: dt.timedelta, counted: bool
) -> None:
    history = (enrolled(), exited("job_searching", day(40)), followed_up("other", day(40) + after))

    assert six_months_of(*history) == ("other" if counted else None)


def test_the_last_follow_up_in_the_window_by_occurred_at_counts() -> None:
    assert (
        six_months_of(
            enrolled(),
            exited("job_searching", day(40)),
            followed_up("in_employment", day(40 + 200)),
            followed_up("job_searching", day(40 + 180)),  # logged later, occurred earlier
            followed_up("other", day(40 + 260)),  # outside the window
        )
        == "in_employment"
    )


def test_follow_ups_at_the_same_instant_are_ordered_by_log_position() -> None:
    assert (
        six_months_of(
            enrolled(),
            exited("job_searching", day(40)),
            followed_up("in_employment", day(40 + 190)),
            followed_up("in_education_or_training", day(40 + 190)),
        )
        == "in_education_or_training"
    )


def test_a_retracted_follow_up_is_no_result() -> None:
    answer = followed_up("in_employment", day(40 + 190))

    history = (enrolled(), exited("job_searching", day(40)), answer, retract(answer, at=day(235)))

    assert six_months_of(*history) is None


def test_the_window_runs_from_the_first_non_retracted_exit() -> None:
    mistaken = exited("other", day(40))
    history = (
        enrolled(),
        mistaken,
        retract(mistaken, at=day(41)),
        exited("job_searching", day(100)),
        followed_up("in_employment", day(40 + 190)),  # 130 days after the real leaving date
    )

    assert six_months_of(*history) is None


def test_six_month_results_are_selected_by_leaving_date() -> None:
    row = person(
        enrolled(day(1)), exited("job_searching", day(40)), followed_up("in_employment", day(230))
    )

    assert report(row, start=day(30), end=day(50)).results_six_months.in_employment.total == 1
    assert report(row, start=day(50)).results_six_months.followed_up.total == 0
