"""Build one participant's history for fold tests: real events, fixed ids, chosen log positions.

    enrol = ev("participant.enrolled", "awo-en", day(1), gender="male")
    rows = fold(enrol, retract(enrol, at=day(2)))   # log order: offsets 0, 1

`ev` validates through the codec, so every event is one a publisher could send.
Event ids are deterministic (uuid5 of a per-module counter or of a given `key`),
so failures read the same on every run.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterable
from typing import Any

from refnet.events.catalogue import EventModel
from refnet.events.codec import validate
from refnet.events.fields import format_utc
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Fact, Position, fact_of
from refnet.projections.fold.rows import ParticipantRows
from refnet.projections.fold.rules import ParticipantState, apply
from tests.unit.examples import PARTICIPANT, valid_example

PID = PARTICIPANT
EPOCH = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
_NAMESPACE = uuid.UUID("6f1c2a52-3c1e-4f0e-9b7a-5d8e0c4b2a10")
_counter = itertools.count(1)


def day(n: int, hours: int = 0) -> dt.datetime:
    """An instant `n` days (plus `hours`) after 2025-03-01 09:00 UTC."""
    return EPOCH + dt.timedelta(days=n, hours=hours)


def stamp(moment: dt.datetime) -> str:
    """The canonical text the fold stores and derives for an instant."""
    return format_utc(moment)


def event_id(key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, key))


def ev(
    event_type: str,
    partner: str = "awo-en",
    at: dt.datetime = EPOCH,
    *,
    recorded: dt.datetime | None = None,
    site: str = "schwelm",
    key: str | None = None,
    **data: Any,
) -> EventModel:
    """A valid event of `event_type`; `data` overrides fields of the catalogue example."""
    raw = valid_example(event_type)
    raw.update(
        event_id=event_id(key if key is not None else f"auto-{next(_counter)}"),
        partner_id=partner,
        site=site,
        participant_id=PID,
        occurred_at=at.isoformat(),
        recorded_at=(recorded or at).isoformat(),
    )
    raw["data"].update(data)
    return validate(raw)


def retract(
    original: EventModel,
    partner: str | None = None,
    at: dt.datetime | None = None,
    **kwargs: Any,
) -> EventModel:
    """An `event.retracted` of `original`, by its own partner unless told otherwise."""
    return ev(
        "event.retracted",
        partner or original.partner_id,
        at or original.occurred_at,
        retracted_event_id=str(original.event_id),
        reason="entered by mistake",
        **kwargs,
    )


def at_offsets(*events: EventModel, partition: int = 0) -> list[Fact]:
    """The events as facts in log order: offsets 0, 1, 2, ... in one partition."""
    return [fact_of(e, Position(partition, offset)) for offset, e in enumerate(events)]


def state_of(facts: Iterable[Fact]) -> ParticipantState:
    """Apply `facts` in the given (apply) order to a fresh state."""
    state = ParticipantState(PID)
    for fact in facts:
        apply(state, fact)
    return state


def fold(*events: EventModel) -> ParticipantRows:
    """Derive the rows of `events` applied in log order."""
    return derive(state_of(at_offsets(*events)))
