"""Guards the worker against silently skipping part of a partition.

faust may move a partition past the offset stored with the read model: it
seeks to what it committed to Kafka during a rebalance, it drops messages that
arrive while its flow is suspended, and it acks events an agent did not finish.
The read model's own offsets are the truth, and the log's offsets are
contiguous (idempotent, non-transactional producers; no compaction). So a
record beyond the expected offset is never applied: the worker drops it and
seeks back, again after every batch that is still ahead, because faust's drain
loop can still hold records fetched before the seek (and drops the re-fetched
ones below its own read offset until its stale chunk is through).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar


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
    dropped: int = 0

    def reset(self, offsets: dict[int, int]) -> None:
        """Start from the offsets stored with the read model (on every assignment)."""
        self.expected = dict(offsets)

    def rewind(self, offsets: dict[int, int]) -> None:
        """Expect these partitions from the given offsets again (after a refused batch)."""
        self.expected.update(offsets)

    def check(self, records: Sequence[R]) -> tuple[list[R], dict[int, int]]:
        """Split `records` into those to apply and the partitions to seek back (to offset)."""
        keep: list[R] = []
        seek: dict[int, int] = {}
        for record in records:
            p = record.partition
            want = self.expected.get(p)
            if want is not None and record.offset > want:
                seek[p] = want
                self.dropped += 1
                continue
            keep.append(record)  # below `want` is a redelivery: the store skips it
            if want is None or record.offset >= want:
                self.expected[p] = record.offset + 1
        return keep, seek
