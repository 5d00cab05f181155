"""Histories and reports for the ESF+ report tests, on the pure fold and `esf_report`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from refnet.events.catalogue import EventModel
from refnet.projections.fold.rows import ParticipantRow
from refnet.projections.reports.esf import EsfReport, LogPosition, esf_report
from refnet.projections.store.views import Period
from tests.unit.history import day, ev, fold

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
