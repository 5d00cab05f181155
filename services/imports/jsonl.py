"""Reading a JSON Lines file of events: every line validated, every error kept by line.

A file is published whole or not at all, so the reader collects every problem
before anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from refnet.events.catalogue import EventModel
from refnet.events.codec import validate
from refnet.events.errors import EventInvalid, Problem


@dataclass(frozen=True)
class LineError:
    line: int
    problem: Problem

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


def read_events(path: Path) -> tuple[list[EventModel], list[LineError]]:
    """Parse and validate every non-blank line of `path`."""
    events: list[EventModel] = []
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
                events.append(validate(obj))
            except EventInvalid as exc:
                errors.extend(LineError(number, p) for p in exc.problems)
    return events, errors
