"""Reading a JSON Lines file of events: every line validated, every error kept by line.

A file is published whole or not at all, so the reader collects every problem
before anything is sent. A `participant.contact_recorded` line carries its
details in clear (`data.contact`), to be sealed by the publisher; a line with
`data.sealed` is refused, as is free text holding personal data (`events/pii.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from refnet.events.catalogue import EventModel
from refnet.events.codec import validate
from refnet.events.contact import ClearContactRecorded
from refnet.events.errors import EventInvalid, Problem
from refnet.events.pii import pii_problems
from refnet.events.sealing import clear_contact, is_contact_item


@dataclass(frozen=True)
class LineError:
    line: int
    problem: Problem

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


def read_events(path: Path) -> tuple[list[EventModel | ClearContactRecorded], list[LineError]]:
    """Parse and validate every non-blank line of `path`."""
    events: list[EventModel | ClearContactRecorded] = []
    errors: list[LineError] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (UnicodeDecodeError, ValueError) as exc:
                errors.append(LineError(number, Problem("line", f"not JSON: {exc}")))
                continue
            if not isinstance(obj, dict):
                errors.append(LineError(number, Problem("line", "not a JSON object")))
                continue
            try:
                events.append(_event_of(obj))
            except EventInvalid as exc:
                errors.extend(LineError(number, p) for p in exc.problems)
    return events, errors


def _event_of(obj: dict[str, object]) -> EventModel | ClearContactRecorded:
    if is_contact_item(obj):
        return clear_contact(obj)
    event = validate(obj)
    if problems := pii_problems(event):
        raise EventInvalid(problems)
    return event
