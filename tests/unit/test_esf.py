"""PRODUCT.md "The ESF+ report", rule by rule, on the pure fold and `esf_report`.

Each person is one participant's history folded with `fold` (log order is the
order given); the report counts the derived participant rows. Days are
counted from 2025-03-01 09:00 UTC (`day`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from refnet.events.catalogue import EventModel
from refnet.projections.audit.asof import TimeBasis
from refnet.projections.fold.rows import ParticipantRow
from refnet.projections.reports.esf import (
    GENDER_KEYS,
    LEAVING_KEYS,
    OUTPUT_KEYS,
    REFUSED_KEYS,
    SIX_MONTH_KEYS,
    EsfReport,
    GenderSplit,
    LogPosition,
    esf_report,
)
from refnet.projections.reports.esf_asof import esf_as_of
from refnet.projections.store.views import Period
from tests.unit.history import at_offsets, day, ev, fold, retract, stamp, state_of

AS_OF = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
POSITION = LogPosition(topic="refnet.events", next_offsets={0: 12, 1: 7})

# ------------------------------------------------------------------ building histories


def enrolled(at: dt.datetime | None = None, by: str = "awo-en", **data: Any) -> EventModel:
    return ev("participant.enrolled", by, at or day(1), **data)


def exited(
    situation: str, at: dt.datetime, recorded: dt.datetime | None = None, **kwargs: Any
) -> EventModel:
    return ev("participant.exited", "awo-en", at, recorded=recorded, situation=situation, **kwargs)


def followed_up(situation: str, at: dt.datetime, **kwargs: Any) -> EventModel:
    return ev("participant.followed_up", "awo-en", at, situation=situation, **kwargs)


def person(*events: EventModel) -> ParticipantRow:
    return fold(*events).participant


def report(
    *rows: ParticipantRow, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> EsfReport:
    return esf_report(rows, Period.model_validate({"from": start, "to": end}), AS_OF, POSITION)


def totals(section: Any) -> dict[str, int]:
    """Each box's total, by key."""
    return {key: box.total for key, box in section}


def output(*rows: ParticipantRow) -> dict[str, int]:
    return totals(report(*rows).output)


def leaving_of(*events: EventModel) -> str | None:
    """The one situation on leaving the report counts for this person, or None."""
    counted = totals(report(person(*events)).results_on_leaving)
    assert counted["left"] == sum(counted.values()) - counted["left"]  # exactly one situation
    return next((k for k, n in counted.items() if n and k != "left"), None)


def six_months_of(*events: EventModel) -> str | None:
    counted = totals(report(person(*events)).results_six_months)
    assert counted["followed_up"] == sum(counted.values()) - counted["followed_up"]
    return next((k for k, n in counted.items() if n and k != "followed_up"), None)


# ------------------------------------------------------------------ the shape


def test_the_json_has_exactly_the_keys_of_the_contract() -> None:
    body = report(person(enrolled())).model_dump(mode="json", by_alias=True)

    assert list(body) == ["period", "output", "refused", "results_on_leaving", "results_six_months"]
    assert list(body["period"]) == ["from", "to", "as_of", "log_position"]
    assert list(body["output"]) == [f"EECO{n:02}" for n in range(1, 12)] + [
        "third_country_nationals"
    ]
    assert list(body["output"]) == list(OUTPUT_KEYS)
    assert list(body["refused"]) == [
        "gender", "age_band", "education_level", "employment_status", "third_country_national",
    ]  # fmt: skip
    assert list(body["refused"]) == list(REFUSED_KEYS)
    situations = [
        "job_searching", "in_education_or_training", "gained_qualification",
        "in_employment", "other",
    ]  # fmt: skip
    assert list(body["results_on_leaving"]) == ["left", *situations] == list(LEAVING_KEYS)
    assert list(body["results_six_months"]) == ["followed_up", *situations] == list(SIX_MONTH_KEYS)
    for section in ("output", "results_on_leaving", "results_six_months"):
        for box in body[section].values():
            assert list(box) == ["total", "female", "male", "diverse", "not_stated"]


def test_the_report_is_stamped_with_its_instant_its_offsets_and_its_period() -> None:
    made = dt.datetime(2026, 1, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    naive = day(0).replace(tzinfo=None)  # a bound without an offset is UTC
    period = Period.model_validate({"from": naive, "to": day(100)})

    body = esf_report([], period, made, POSITION).model_dump(mode="json", by_alias=True)

    assert body["period"] == {
        "from": "2025-03-01T09:00:00Z",
        "to": "2025-06-09T09:00:00Z",
        "as_of": "2026-01-01T09:30:00Z",
        "log_position": {"topic": "refnet.events", "next_offsets": {"0": 12, "1": 7}},
    }
    assert EsfReport.model_validate(body).period.log_position == POSITION


# ------------------------------------------------------------------ attributes


def test_the_attributes_come_from_the_first_enrolment_by_occurred_at() -> None:
    row = person(
        enrolled(day(5), "caritas-witten", gender="male", age_band="55_plus"),
        enrolled(day(2), "awo-en", gender="female", age_band="18_29"),  # logged later, earlier
    )

    counted = report(row).output

    assert counted.EECO01 == GenderSplit(total=1, female=1)
    assert (counted.EECO07.total, counted.EECO08.total) == (1, 0)


def test_between_enrolments_at_the_same_instant_the_first_logged_counts() -> None:
    row = person(
        enrolled(day(2), "caritas-witten", education_level="isced_5_8"),
        enrolled(day(2), "awo-en", education_level="isced_0_2"),
    )

    assert (output(row)["EECO11"], output(row)["EECO09"]) == (1, 0)


def test_a_person_who_enrols_again_is_counted_once() -> None:
    row = person(enrolled(day(1)), exited("other", day(30)), enrolled(day(90), "bobeq"))

    assert output(row)["EECO01"] == 1


@pytest.mark.parametrize(
    ("field", "value", "indicators"),
    [
        ("employment_status", "unemployed", {"EECO02"}),
        ("employment_status", "long_term_unemployed", {"EECO02", "EECO03"}),
        ("employment_status", "inactive", {"EECO04"}),
        ("employment_status", "employed", {"EECO05"}),
        ("age_band", "under_18", {"EECO06"}),
        ("age_band", "18_29", {"EECO07"}),
        ("age_band", "30_54", set()),
        ("age_band", "55_plus", {"EECO08"}),
        ("education_level", "isced_0_2", {"EECO09"}),
        ("education_level", "isced_3_4", {"EECO10"}),
        ("education_level", "isced_5_8", {"EECO11"}),
        ("third_country_national", True, {"third_country_nationals"}),
        ("third_country_national", False, set()),
    ],
)
def test_each_attribute_value_counts_in_its_indicators(
    field: str, value: object, indicators: set[str]
) -> None:
    group = {
        "employment_status": {"EECO02", "EECO03", "EECO04", "EECO05"},
        "age_band": {"EECO06", "EECO07", "EECO08"},
        "education_level": {"EECO09", "EECO10", "EECO11"},
        "third_country_national": {"third_country_nationals"},
    }[field]

    attribute: dict[str, Any] = {field: value}
    counted = output(person(enrolled(**attribute)))

    assert {key for key in group if counted[key]} == indicators
    assert counted["EECO01"] == 1


@pytest.mark.parametrize("field", REFUSED_KEYS)
def test_a_refused_value_counts_in_no_indicator_but_the_total(field: str) -> None:
    baseline = output(person(enrolled()))  # the example: unemployed, isced_0_2, 18_29, tcn, female

    attribute: dict[str, Any] = {field: "refused"}
    refused = report(person(enrolled(**attribute)))

    changed = {k for k, n in totals(refused.output).items() if n != baseline[k]}
    expected = {
        "gender": set(),  # the person stays in every indicator, split as not stated
        "age_band": {"EECO07"},
        "education_level": {"EECO09"},
        "employment_status": {"EECO02"},
        "third_country_national": {"third_country_nationals"},
    }[field]
    assert changed == expected
    assert refused.output.EECO01.total == 1
    assert refused.refused.model_dump() == {k: int(k == field) for k in REFUSED_KEYS}


def test_gender_refused_is_reported_as_not_stated() -> None:
    counted = report(person(enrolled(gender="refused")), person(enrolled(gender="not_stated")))

    assert counted.output.EECO01 == GenderSplit(total=2, not_stated=2)
    assert counted.refused.gender == 1


def test_every_box_is_split_by_gender_and_the_split_adds_up() -> None:
    rows = [
        person(enrolled(gender=g), exited("job_searching", day(40)))
        for g in ("female", "female", "male", "diverse", "not_stated", "refused")
    ]

    counted = report(*rows)

    expected = GenderSplit(total=6, female=2, male=1, diverse=1, not_stated=2)
    assert counted.output.EECO01 == expected
    assert counted.results_on_leaving.left == expected
    assert counted.results_on_leaving.job_searching == expected
    for _, box in counted.output:
        assert box.total == sum(getattr(box, g) for g in GENDER_KEYS)


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


# ------------------------------------------------------------------ periods


def test_output_counts_by_first_enrolment_results_by_leaving_date() -> None:
    early = person(enrolled(day(1)), exited("in_employment", day(40)))
    late = person(enrolled(day(35)))

    counted = report(early, late, start=day(30), end=day(60))

    assert counted.output.EECO01.total == 1  # late, not early (enrolled before the period)
    assert counted.results_on_leaving.in_employment.total == 1  # early, who left in it


def test_a_period_includes_its_start_and_excludes_its_end() -> None:
    at_start, at_end = person(enrolled(day(10))), person(enrolled(day(20)))

    assert report(at_start, at_end, start=day(10), end=day(20)).output.EECO01.total == 1
    assert report(at_end, start=day(10), end=day(20)).output.EECO01.total == 0


def test_only_participants_with_a_live_enrolment_count() -> None:
    enrolment = enrolled()
    withdrawn = person(enrolment, retract(enrolment, at=day(2)), exited("other", day(40)))
    never = person(exited("other", day(40)), followed_up("other", day(220)))

    counted = report(withdrawn, never)

    assert not withdrawn.enrolled and not never.enrolled
    assert counted.output.EECO01.total == 0
    assert counted.results_on_leaving.left.total == 0
    assert counted.results_six_months.followed_up.total == 0


# ------------------------------------------------------------------ as of an instant


def test_as_of_an_instant_only_what_was_recorded_by_then_counts() -> None:
    state = state_of(
        at_offsets(
            enrolled(day(1)),
            exited("job_searching", day(40)),
            exited("in_employment", day(41), recorded=day(60)),
        )
    )
    period = Period()

    before = esf_as_of([state], day(50), period, POSITION, TimeBasis.RECORDED)
    after = esf_as_of([state], day(61), period, POSITION, TimeBasis.RECORDED)

    assert before.results_on_leaving.job_searching.total == 1
    assert after.results_on_leaving.in_employment.total == 1
    assert after.results_on_leaving.job_searching.total == 0
    assert esf_as_of([state], day(0), period, POSITION).output.EECO01.total == 0
