"""The PostgreSQL store of the outcome projection: rows and offsets in one transaction.

A batch is applied as: lock the offset rows of its partitions, drop every event
below the stored offset (a redelivery: a no-op), check that what is left starts
exactly at the stored offset and has no hole, load the touched participants'
states, fold (an event that breaks a rule becomes a row of `rejections`),
rewrite their derived rows with COPY, park dead letters, and move the offsets
forward, all in one transaction. The position only moves forward, and never
past an offset that was not applied: a batch that starts beyond the stored
offset (PostgreSQL lost its last commits, the read model was reset, the
consumer skipped ahead) is refused whole with `OffsetMismatch`, which carries
the stored offsets to seek back to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg

from refnet.events.cloudevents import headers_of_value
from refnet.projections.fold.batch import fold_batch
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Fact, Position
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store.contributions import contributions, delta
from refnet.projections.store.counts import Contribution, move_counts
from refnet.projections.store.database import Conn, StoreError, StoreUnavailable, is_transient
from refnet.projections.store.row_writes import copy_derived, reject
from refnet.projections.store.schema import (
    ENSURE_OFFSETS,
    ENSURE_TOPIC_OFFSETS,
    LOCK_OFFSETS,
    MOVE_OFFSETS,
    PROJECTION,
    READ_OFFSETS,
)
from refnet.projections.store.states import StateCache

_LOAD_STATES = """
SELECT participant_id, facts::text FROM participant_state WHERE participant_id = ANY($1::text[])
"""
# One round trip clears a batch's participants from every derived table.
_DELETE_DERIVED = """
WITH state AS (DELETE FROM participant_state WHERE participant_id = ANY($1::text[])),
     people AS (DELETE FROM participants WHERE participant_id = ANY($1::text[])),
     refs AS (DELETE FROM referrals WHERE participant_id = ANY($1::text[])),
     courses AS (DELETE FROM trainings WHERE participant_id = ANY($1::text[])),
     reach AS (DELETE FROM contacts WHERE participant_id = ANY($1::text[])),
     consent AS (DELETE FROM consents WHERE participant_id = ANY($1::text[]))
DELETE FROM partner_links WHERE participant_id = ANY($1::text[])
"""
_NONE: Counter[Contribution] = Counter()  # a participant without rows contributes nothing

_PARK = """
INSERT INTO dead_letters (topic, partition, "offset", event_id, reason, payload)
SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])
ON CONFLICT DO NOTHING
"""


class OffsetMismatch(StoreError):
    """A batch does not continue the stored offsets; nothing of it was applied.

    `stored` holds the next offset to apply for every partition of the batch, as
    read under lock in the refused transaction: the consumer seeks there.
    """

    def __init__(self, stored: dict[int, int], holes: dict[int, int]) -> None:
        where = ", ".join(
            f"partition {p} offset {holes[p]} where {stored[p]} is next" for p in sorted(holes)
        )
        super().__init__(f"batch does not continue the stored offsets: {where}")
        self.stored = stored
        self.holes = holes


def first_hole(offsets: Sequence[int], next_offset: int) -> int | None:
    """The first offset of `offsets` (ascending, none below `next_offset`) that breaks the run.

    The log's offsets are contiguous (no compaction, no transactions), so a
    batch's records of one partition must be exactly next_offset, +1, +2, ...
    """
    expected = next_offset
    for offset in offsets:
        if offset != expected:
            return offset
        expected += 1
    return None


@dataclass(frozen=True)
class DeadLetter:
    """An event that cannot be applied, and why."""

    position: Position
    payload: bytes
    reason: str
    event_id: str | None = None

    def record(self, events_topic: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """Key, value and headers of its dead-letter record: where it came from, and why;
        and, when the value is an event's JSON, its CloudEvents headers."""
        source = f"{events_topic}/{self.position.partition}/{self.position.offset}"
        headers: list[tuple[str, bytes]] = [
            *headers_of_value(self.payload),
            ("refnet-reason", self.reason.encode()),
            ("refnet-source", source.encode()),
        ]
        return source.encode(), self.payload, headers


@dataclass(frozen=True)
class Incoming:
    """One record of a batch: its position and either a fact or a dead letter."""

    position: Position
    participant_id: str | None
    item: Fact | DeadLetter


@dataclass
class _Written:
    """What a transaction wrote, for the state cache once it has committed."""

    states: dict[str, tuple[int, ParticipantState]] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResult:
    applied: int  # new facts folded in
    duplicates: int  # redelivered positions or repeated event_ids
    dead_lettered: int
    rejected: int = 0  # events that broke a rule: recorded in `rejections`, not applied
    rejected_types: tuple[str, ...] = ()  # the event type of each of them
    dead_letter_reasons: tuple[str, ...] = ()  # why each new dead letter was parked


class OutcomePort(Protocol):
    """What the projector needs of a store; `OutcomeStore` is the PostgreSQL one.

    The contract (tests/integration/test_outcome_port.py runs it against a fake and
    against PostgreSQL): a batch is applied whole or not at all; records below the
    stored offset are no-ops; a batch that skips an unapplied offset raises
    OffsetMismatch with the stored offsets; a transient failure raises StoreUnavailable.
    """

    async def ensure_partitions(self, partitions: int) -> None: ...

    async def offsets(self) -> dict[int, int]: ...

    async def apply_batch(self, batch: Sequence[Incoming]) -> BatchResult: ...


class OutcomeStore(OutcomePort):
    """Reads and writes the outcome read model through one asyncpg pool."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        topic: str,
        projection: str = PROJECTION,
        cache: StateCache | None = None,
    ) -> None:
        self._pool = pool
        self._topic = topic
        self._projection = projection
        # States this store committed last (None: every batch reads them from PostgreSQL).
        self.cache = cache

    async def ensure_partitions(self, partitions: int) -> None:
        """Create offset rows (at 0) for partitions not seen before."""
        async with self._pool.acquire() as conn:
            await conn.execute(ENSURE_TOPIC_OFFSETS, self._projection, self._topic, partitions)

    async def offsets(self) -> dict[int, int]:
        """The next offset to apply, per partition."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(READ_OFFSETS, self._projection, self._topic)
        return {r["partition"]: r["next_offset"] for r in rows}

    async def apply_batch(self, batch: Sequence[Incoming]) -> BatchResult:
        """Apply `batch` exactly once, or nothing of it.

        Raises StoreUnavailable on transient failures (retry the same batch) and
        OffsetMismatch when the batch skips an offset not yet applied (seek back).
        """
        written = _Written()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                result = await self._apply(conn, batch, written)
        except OffsetMismatch:
            raise  # refused before anything was folded: the states held are untouched
        except Exception as exc:
            if self.cache is not None:  # the fold may have changed states the rollback undid
                self.cache.clear()
            if is_transient(exc):
                raise StoreUnavailable(f"read model write failed: {exc}") from exc
            raise
        if self.cache is not None:
            self.cache.committed(written.states, written.offsets)
        return result

    async def _apply(self, conn: Conn, batch: Sequence[Incoming], written: _Written) -> BatchResult:
        partitions = sorted({i.position.partition for i in batch})
        locked = await conn.fetch(LOCK_OFFSETS, self._projection, self._topic, partitions)
        if len(locked) < len(partitions):
            # Rows removed by hand (or never made): without them the offsets would never move.
            await conn.execute(ENSURE_OFFSETS, self._projection, self._topic, partitions)
            locked = await conn.fetch(LOCK_OFFSETS, self._projection, self._topic, partitions)
        next_offset = {r["partition"]: r["next_offset"] for r in locked}
        fresh = continuing(batch, next_offset)
        if self.cache is not None:
            self.cache.check(next_offset)
        facts = [i for i in fresh if isinstance(i.item, Fact)]
        letters = [i.item for i in fresh if isinstance(i.item, DeadLetter)]
        applied, rejected_types = await self._fold(conn, facts, written)
        rejected = len(rejected_types)
        await self._park(conn, letters)
        ends: dict[int, int] = {}
        for i in fresh:
            ends[i.position.partition] = max(
                ends.get(i.position.partition, 0), i.position.offset + 1
            )
        written.offsets = next_offset | ends
        if ends:
            await conn.execute(
                MOVE_OFFSETS, self._projection, self._topic, list(ends), list(ends.values())
            )
        duplicates = len(batch) - len(letters) - applied - rejected
        reasons = tuple(d.reason for d in letters)
        return BatchResult(
            applied, duplicates, len(letters), rejected, tuple(rejected_types), reasons
        )

    async def _fold(
        self,
        conn: Conn,
        incoming: list[Incoming],
        written: _Written,
    ) -> tuple[int, list[str]]:
        """Fold the batch's facts; (applied, the type of each event rejected)."""
        if not incoming:
            return 0, []
        partition_of = {i.participant_id: i.position.partition for i in incoming}
        states = await self._states(conn, partition_of)
        # What the stored rows contribute now: the fold changes the states in place.
        before = {pid: contributions(derive(s)) for pid, s in states.items() if s.facts}
        folded = fold_batch(states, _facts(incoming))
        if folded.changed:
            await self._rewrite(conn, list(folded.changed.values()), before)
        if folded.rejections:
            await reject(conn, folded.rejections)
        written.states = {pid: (partition_of[pid], s) for pid, s in folded.changed.items()}
        return folded.applied, [r.type for r in folded.rejections]

    async def _states(
        self, conn: Conn, partition_of: dict[str | None, int]
    ) -> dict[str, ParticipantState]:
        """The current states of the batch's participants: held ones, the rest read."""
        states: dict[str, ParticipantState] = {}
        wanted: list[str] = []
        for pid in partition_of:
            assert pid is not None
            held = self.cache.get(pid) if self.cache is not None else None
            if held is not None:
                states[pid] = held
            else:
                wanted.append(pid)
        if wanted:
            for r in await conn.fetch(_LOAD_STATES, sorted(wanted)):
                pid = r["participant_id"]
                states[pid] = ParticipantState.from_json(pid, r["facts"])
        return states

    async def _rewrite(
        self,
        conn: Conn,
        states: list[ParticipantState],
        before: dict[str, Counter[Contribution]],
    ) -> None:
        ids = [s.participant_id for s in states]
        await conn.execute(_DELETE_DERIVED, ids)
        await conn.copy_records_to_table(
            "participant_state",
            records=[(s.participant_id, s.to_json()) for s in states],
            columns=["participant_id", "facts"],
        )
        # A state of only rejected events has no participant to show.
        derived = {s.participant_id: derive(s) for s in states if s.facts}
        await copy_derived(conn, list(derived.values()))
        moved: Counter[Contribution] = Counter()
        for pid in ids:
            rows = derived.get(pid)
            delta(before.get(pid, _NONE), contributions(rows) if rows else _NONE, moved)
        await move_counts(conn, moved)

    async def _park(self, conn: Conn, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        await conn.execute(
            _PARK,
            self._topic,
            [d.position.partition for d in letters],
            [d.position.offset for d in letters],
            [d.event_id for d in letters],
            [d.reason for d in letters],
            [d.payload for d in letters],
        )


def _facts(incoming: Sequence[Incoming]) -> Iterator[tuple[str, Fact]]:
    for i in incoming:
        assert i.participant_id is not None and isinstance(i.item, Fact)
        yield i.participant_id, i.item


def continuing(batch: Sequence[Incoming], next_offset: dict[int, int]) -> list[Incoming]:
    """The records at or past the stored offsets, once each; OffsetMismatch if any skip one."""
    fresh: dict[tuple[int, int], Incoming] = {}
    for i in batch:
        at = (i.position.partition, i.position.offset)
        if i.position.offset >= next_offset[i.position.partition]:
            fresh.setdefault(at, i)  # a redelivery inside one batch is the same record
    by_partition: dict[int, list[int]] = {}
    for partition, offset in sorted(fresh):
        by_partition.setdefault(partition, []).append(offset)
    holes = {
        p: hole
        for p, offsets in by_partition.items()
        if (hole := first_hole(offsets, next_offset[p])) is not None
    }
    if holes:
        raise OffsetMismatch({p: next_offset[p] for p in next_offset}, holes)
    # In log order: a seek back inside a batch may deliver a later offset before an earlier one.
    return [fresh[at] for at in sorted(fresh)]
