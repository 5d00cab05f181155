"""Accounting for a publisher's absent sequence numbers: missing, or unused for a recorded reason.

A number absent from the log is accounted only by the registry's record (a range
recorded unused, or a block its crashed holder abandoned); everything else absent
stays missing. Pure: the records come in as plain data.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

ABANDONED_BY_GATEWAY = "abandoned by a crashed gateway"

Span = tuple[int, int]  # first, last: inclusive
Explained = tuple[int, int, str]  # first, last (inclusive), reason


@dataclass(frozen=True)
class UnusedRange:
    """Numbers a publisher recorded as reserved and never used, and why."""

    publisher_id: str
    first: int
    last: int  # inclusive
    reason: str


@dataclass(frozen=True)
class Block:
    """A block of numbers the gateway reserved; `end` is exclusive."""

    publisher_id: str
    first: int
    end: int
    holder: str
    state: str  # open, closed or abandoned


@dataclass(frozen=True)
class SequenceLedger:
    """What the registry records about numbers never used."""

    unused: tuple[UnusedRange, ...] = ()
    blocks: tuple[Block, ...] = ()

    def explanations(self, publisher_id: str) -> list[Explained]:
        """Every reason an absent number of `publisher_id` may have, recorded ranges first."""
        found = [(u.first, u.last, u.reason) for u in self.unused if u.publisher_id == publisher_id]
        found += [
            (b.first, b.end - 1, ABANDONED_BY_GATEWAY)
            for b in self.blocks
            if b.publisher_id == publisher_id and b.state == "abandoned" and b.end > b.first
        ]
        return found

    def holders(self, publisher_id: str) -> Callable[[int], str | None]:
        """Which holder reserved each number of `publisher_id` (None: no block has it).

        Two gateway processes hold blocks at once, so their numbers interleave on a
        partition: order is only owed within one holder's numbers.
        """
        mine = sorted(
            (b.first, b.end, b.holder) for b in self.blocks if b.publisher_id == publisher_id
        )
        firsts = [first for first, _, _ in mine]

        def holder(sequence: int) -> str | None:
            at = bisect_right(firsts, sequence) - 1
            return mine[at][2] if at >= 0 and sequence < mine[at][1] else None

        return holder


def _disjoint(explained: Iterable[Explained]) -> list[Explained]:
    """Non-overlapping explanations in rising order; where two overlap the earlier one wins."""
    # Stable sort: at the same first number, the order given (recorded before abandoned) wins.
    ordered = sorted(explained, key=lambda e: e[0])
    result: list[Explained] = []
    covered = -1  # highest number already explained
    for first, last, reason in ordered:
        start = max(first, covered + 1)
        if start <= last:
            result.append((start, last, reason))
            covered = last
    return result


def account(
    absent: Sequence[Span], explained: Iterable[Explained]
) -> tuple[list[Span], list[Explained]]:
    """Split absent ranges into those still missing and those explained (with their reason).

    Both results are in rising order; adjacent accounted ranges of one reason are merged.
    """
    reasons = _disjoint(explained)
    missing: list[Span] = []
    accounted: list[Explained] = []
    at = 0  # first explanation that may still overlap the current absent range
    for first, last in sorted(absent):
        while at < len(reasons) and reasons[at][1] < first:
            at += 1
        cursor = first
        probe = at
        while probe < len(reasons) and reasons[probe][0] <= last:
            r_first, r_last, reason = reasons[probe]
            if r_first > cursor:
                missing.append((cursor, r_first - 1))
            start, end = max(cursor, r_first), min(last, r_last)
            _merge(accounted, (start, end, reason))
            cursor = end + 1
            probe += 1
        if cursor <= last:
            missing.append((cursor, last))
    return missing, accounted


def _merge(accounted: list[Explained], item: Explained) -> None:
    if accounted and accounted[-1][2] == item[2] and accounted[-1][1] + 1 == item[0]:
        accounted[-1] = (accounted[-1][0], item[1], item[2])
    else:
        accounted.append(item)


def count(spans: Iterable[tuple[int, int] | Explained]) -> int:
    """How many numbers the inclusive spans hold."""
    return sum(span[1] - span[0] + 1 for span in spans)


def distinct_numbers(spans: Iterable[Span]) -> int:
    """How many numbers the inclusive `spans` cover, each counted once where they overlap."""
    total, covered = 0, -1  # covered: the highest number counted so far
    for first, last in sorted(spans):
        start = max(first, covered + 1)
        if start <= last:
            total += last - start + 1
            covered = last
    return total
