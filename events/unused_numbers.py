"""The port a publisher reports its given-up sequence numbers through (PostgreSQL: services/).

A reserved number is either carried by an event on the log or reported here,
with its reason, so that `refnet audit verify` can tell it from a removed event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

ABANDONED_BY_CLIENT = "abandoned by a crashed client"


class UnusedLedger(Protocol):
    def record_unused(
        self, publisher_id: str, spans: Sequence[tuple[int, int]], reason: str
    ) -> None:
        """Record the inclusive (first, last) spans as never to be used; raise if not recorded."""
        ...
