"""PRODUCT.md "The ESF+ report": periods, live enrolments, and the report as of an instant."""

from __future__ import annotations

from refnet.projections.audit.asof import TimeBasis
from refnet.projections.reports.esf_asof import esf_as_of
from refnet.projections.store.views import Period
from tests.unit.esf_history import POSITION, enrolled, exited, followed_up, person, report
from tests.unit.history import at_offsets, day, retract, state_of

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
