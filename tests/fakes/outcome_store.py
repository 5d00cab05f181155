"""An in-memory outcome store: the port's contract without PostgreSQL.

It shares the pure parts with the real store (the offset invariant, the fold)
and fakes only the storage, so the contract test can hold both to one behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence

from refnet.projections.fold.batch import fold_batch
from refnet.projections.fold.facts import Fact
from refnet.projections.fold.rows import RejectionRow
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store.database import StoreUnavailable
from refnet.projections.store.outcomes import (
    BatchResult,
    DeadLetter,
    Incoming,
    OutcomePort,
    continuing,
)


class FakeOutcomeStore(OutcomePort):
    """Offsets, states, rejections and parked letters in dicts; `fail_next` batches fail."""

    def __init__(self) -> None:
        self.next_offset: dict[int, int] = {}
        self.states: dict[str, ParticipantState] = {}
        self.rejections: dict[str, RejectionRow] = {}
        self.parked: dict[tuple[int, int], DeadLetter] = {}
        self.fail_next = 0
        self.attempts = 0

    async def ensure_partitions(self, partitions: int) -> None:
        for partition in range(partitions):
            self.next_offset.setdefault(partition, 0)

    async def offsets(self) -> dict[int, int]:
        return dict(self.next_offset)

    async def apply_batch(self, batch: Sequence[Incoming]) -> BatchResult:
        self.attempts += 1
        if self.fail_next:
            self.fail_next -= 1
            raise StoreUnavailable("read model write failed: the fake database is down")
        stored = {
            i.position.partition: self.next_offset.get(i.position.partition, 0) for i in batch
        }
        fresh = continuing(batch, stored)  # raises OffsetMismatch before anything changes
        facts: list[tuple[str, Fact]] = []
        letters: list[DeadLetter] = []
        for i in fresh:
            if isinstance(i.item, DeadLetter):
                letters.append(i.item)
            else:
                assert i.participant_id is not None
                facts.append((i.participant_id, i.item))
        folded = fold_batch(self.states, facts)
        for rejection in folded.rejections:
            self.rejections.setdefault(rejection.event_id, rejection)
        for letter in letters:
            self.parked.setdefault((letter.position.partition, letter.position.offset), letter)
        for i in fresh:
            p = i.position.partition
            self.next_offset[p] = max(self.next_offset.get(p, 0), i.position.offset + 1)
        rejected = len(folded.rejections)
        duplicates = len(batch) - len(letters) - folded.applied - rejected
        return BatchResult(folded.applied, duplicates, len(letters), rejected)
