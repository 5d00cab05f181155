"""The port a publisher reports its given-up sequence numbers through, and the limits of a report.

A reserved number is either carried by an event on the log or reported here,
with its reason, so that `refnet audit verify` can tell it from a removed event.
The ledgers: PostgreSQL (services/unused_ledger.py, for the operator) and the
API's `POST /v1/sequences/unused` (events/http_ledger.py, for partners).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

ABANDONED_BY_CLIENT = "abandoned by a crashed client"

MAX_RANGES = 1000
"""Ranges in one report to the API."""
MAX_RANGE_NUMBERS = 1_000_000
"""Numbers in one range of a report to the API."""
MAX_REASON_CHARS = 200
"""Characters of a reason reported to the API (free text on one line)."""
MAX_SEQUENCE = 2**53 - 1
"""The highest sequence number a report may name: every JSON reader holds it exactly
(and it is well inside PostgreSQL's bigint)."""


class UnusedLedger(Protocol):
    def record_unused(
        self, publisher_id: str, spans: Sequence[tuple[int, int]], reason: str
    ) -> None:
        """Record the inclusive (first, last) spans as never to be used; raise if not recorded."""
        ...


def within_limits(spans: Sequence[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """`spans` cut into reports the API takes: at most MAX_RANGES ranges of MAX_RANGE_NUMBERS."""
    pieces = [
        (start, min(start + MAX_RANGE_NUMBERS - 1, last))
        for first, last in spans
        for start in range(first, last + 1, MAX_RANGE_NUMBERS)
    ]
    for at in range(0, len(pieces), MAX_RANGES):
        yield pieces[at : at + MAX_RANGES]


def one_line_reason(reason: str) -> str:
    """`reason` as the API's free text takes it: one line, valid Unicode, 1-200 characters.

    A reason often quotes a broker's error, which may hold line breaks; rather
    than have the report refused, they become spaces.
    """
    text = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in reason)
    text = text.encode("utf-8", errors="replace").decode("utf-8").strip()
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3].rstrip() + "..."
    return text or "no reason given"
