"""Guards the worker against silently skipping part of a partition.

faust may seek a partition to the offset it committed to Kafka (during a
rebalance, or after an agent raised and its message was acked anyway). The
read model's own offsets are the truth: when a batch starts past the stored
position, the worker seeks back to it. A gap that persists after a few
seek-backs is a real hole in the log (e.g. transaction markers) and is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

SEEK_BACK_ATTEMPTS = 3


class HasPosition(Protocol):
    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=HasPosition)


@dataclass
class GapGuard:
    """Tracks the next expected offset of each partition this worker owns."""

    expected: dict[int, int] = field(default_factory=dict)
    _attempts: dict[tuple[int, int], int] = field(default_factory=dict)

    def reset(self, offsets: dict[int, int]) -> None:
        """Start from the offsets stored with the read model (on every assignment)."""
        self.expected = dict(offsets)
        self._attempts.clear()

    def check(self, records: Sequence[R]) -> tuple[list[R], dict[int, int]]:
        """Split `records` into those to apply and the partitions to seek back (to offset)."""
        keep: list[R] = []
        seek: dict[int, int] = {}
        for record in records:
            p = record.partition
            if p in seek:
                continue
            want = self.expected.get(p)
            if want is not None and record.offset > want:
                tries = self._attempts.get((p, want), 0)
                if tries < SEEK_BACK_ATTEMPTS:
                    self._attempts[(p, want)] = tries + 1
                    seek[p] = want
                    continue
            keep.append(record)
            self.expected[p] = max(want or 0, record.offset + 1)
        return keep, seek
