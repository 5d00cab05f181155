"""The funder's audit-retention duty per programme, and the participant's programme.

ESF+ 2021–27 (Regulation (EU) 2021/1060, Art. 82): the records are kept for
five years from 31 December of the year of the last payment. A last payment on
2029-06-30 therefore binds the records until 2034-12-31 inclusive, and a data
key may be destroyed from 2035-01-01. While the duty runs, an erasure request
restricts processing (no view shows contact details, counts stay); once it
ends, or where none ever ran, the key is destroyed.

A participant's programme is that of their first enrolment that still stands
(a retracted enrolment counts as never recorded, so it binds no duty). A
programme that `retention_last_payment` does not list has no duty: the
configuration is where the network states which funders bind it, and a person's
right to erasure is not held back on a guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from refnet.projections.fold.facts import ENROLLED
from refnet.projections.fold.rules import ParticipantState, standing_retractions

RETENTION_YEARS = 5


def duty_ends(last_payment: dt.date) -> dt.date:
    """The last day of the duty: 31 December of the fifth year after the payment's year."""
    return dt.date(last_payment.year + RETENTION_YEARS, 12, 31)


@dataclass(frozen=True)
class Retention:
    """The duty binding one participant's records: which programme, and until when."""

    programme: str | None
    until: dt.date | None  # the duty's last day; None: no duty runs for the programme

    def runs_on(self, today: dt.date) -> bool:
        """True while the records must be kept (the last day included)."""
        return self.until is not None and today <= self.until

    @property
    def destroy_from(self) -> dt.date | None:
        """The first day the data key may be destroyed; None when that is any day."""
        return None if self.until is None else self.until + dt.timedelta(days=1)


def retention_of(programme: str | None, last_payments: Mapping[str, dt.date]) -> Retention:
    """The duty of `programme` under the configured dates of the last payment."""
    last = last_payments.get(programme) if programme is not None else None
    return Retention(programme, duty_ends(last) if last is not None else None)


def programme_of(state: ParticipantState) -> str | None:
    """The programme of the participant's first standing enrolment, or None without one."""
    gone = standing_retractions(state)
    enrolments = [f for f in state.facts.values() if f.type == ENROLLED and f.event_id not in gone]
    if not enrolments:
        return None
    first = min(enrolments, key=lambda f: f.order)
    programme = first.data.get("programme")
    return programme if isinstance(programme, str) else None


def participant_retention(
    state: ParticipantState | None, last_payments: Mapping[str, dt.date]
) -> Retention:
    """The duty binding one participant, from their folded state (None: nothing known)."""
    return retention_of(programme_of(state) if state is not None else None, last_payments)
