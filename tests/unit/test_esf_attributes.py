"""PRODUCT.md "The ESF+ report": the shape of its JSON and the attributes it counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from refnet.projections.reports.esf import (
    GENDER_KEYS,
    LEAVING_KEYS,
    OUTPUT_KEYS,
    REFUSED_KEYS,
    SIX_MONTH_KEYS,
    EsfReport,
    GenderSplit,
    esf_report,
)
from refnet.projections.store.views import Period
from tests.unit.esf_history import POSITION, enrolled, exited, output, person, report, totals
from tests.unit.history import day

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
