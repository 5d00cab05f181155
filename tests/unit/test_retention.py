"""The audit-retention duty: its last day, the boundaries around it, and whose duty it is.

ESF+ 2021–27 keeps records five years from 31 December of the year of the last
payment: a last payment on 2029-06-30 binds them until 2034-12-31, and the key
may go from 2035-01-01.
"""

from __future__ import annotations

import datetime as dt

import pytest

from refnet.events.settings import Settings
from refnet.services.privacy.retention import (
    Retention,
    duty_ends,
    participant_retention,
    programme_of,
    retention_of,
)
from tests.unit.history import at_offsets, day, ev, retract, state_of

D = dt.date
PAYMENTS = {"ESF+ Bleiberecht EN": D(2029, 6, 30)}


@pytest.mark.parametrize(
    ("last_payment", "last_day"),
    [
        (D(2029, 6, 30), D(2034, 12, 31)),
        (D(2029, 1, 1), D(2034, 12, 31)),  # the whole year of payment runs first
        (D(2029, 12, 31), D(2034, 12, 31)),
        (D(2030, 1, 1), D(2035, 12, 31)),  # one day later: a year more
        (D(2028, 2, 29), D(2033, 12, 31)),  # a leap day is just a day of its year
    ],
)
def test_the_duty_ends_on_31_december_of_the_fifth_year_after_the_payments_year(
    last_payment: dt.date, last_day: dt.date
) -> None:
    assert duty_ends(last_payment) == last_day


def test_the_duty_runs_through_its_last_day_and_ends_the_next() -> None:
    retention = retention_of("ESF+ Bleiberecht EN", PAYMENTS)

    assert retention == Retention("ESF+ Bleiberecht EN", D(2034, 12, 31))
    assert retention.runs_on(D(2029, 6, 30))
    assert retention.runs_on(D(2034, 12, 30))
    assert retention.runs_on(D(2034, 12, 31))
    assert not retention.runs_on(D(2035, 1, 1))
    assert retention.destroy_from == D(2035, 1, 1)


def test_a_programme_without_a_configured_payment_has_no_duty() -> None:
    retention = retention_of("Netzwerk Integration", PAYMENTS)

    assert retention == Retention("Netzwerk Integration", None)
    assert not retention.runs_on(D(2000, 1, 1))
    assert retention.destroy_from is None


def test_no_programme_at_all_has_no_duty() -> None:
    assert retention_of(None, PAYMENTS) == Retention(None, None)
    assert participant_retention(None, PAYMENTS) == Retention(None, None)


def test_the_programme_is_the_first_standing_enrolments() -> None:
    first = ev("participant.enrolled", at=day(1), programme="ESF+ Bleiberecht EN")
    later = ev("participant.enrolled", "bobeq", day(9), programme="Netzwerk Integration")
    # Log order is not the order things happened: the first enrolment is the earliest.
    state = state_of(at_offsets(later, first))

    assert programme_of(state) == "ESF+ Bleiberecht EN"
    assert participant_retention(state, PAYMENTS).until == D(2034, 12, 31)


def test_a_retracted_enrolment_binds_no_duty() -> None:
    first = ev("participant.enrolled", at=day(1), programme="ESF+ Bleiberecht EN")
    later = ev("participant.enrolled", "bobeq", day(9), programme="Netzwerk Integration")
    state = state_of(at_offsets(first, later, retract(first, at=day(10))))

    assert programme_of(state) == "Netzwerk Integration"
    assert participant_retention(state, PAYMENTS) == Retention("Netzwerk Integration", None)


def test_a_participant_never_enrolled_has_no_programme() -> None:
    state = state_of(at_offsets(ev("participant.placed", at=day(3))))

    assert programme_of(state) is None


def test_the_settings_read_the_dates_of_the_last_payment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REFNET_RETENTION_LAST_PAYMENT", '{"ESF+ Bleiberecht EN": "2029-06-30"}')

    payments = Settings().retention_last_payment

    assert retention_of("ESF+ Bleiberecht EN", payments).until == D(2034, 12, 31)
