"""Folding the log in memory: the projection's own steps, with no database.

A replay takes records as the live worker does (`classify`: decode, validate,
check the signature) and folds them with the same `apply`, so it decides
exactly what the projection decides: which events are dead letters, which
break a rule, which count. Audit replays, `audit verify` and rebuilds all
start from here, through `log_replay.LogReplay`, which folds the whole log a
part at a time (`parts.py`) so that no more than one part's states are held.

Classifying is most of the cost (an Ed25519 check alone is about 80 µs per
event), and it needs no order, so it runs in worker processes; folding needs
log order within a participant and stays in this process.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from refnet.events.settings import Settings
from refnet.projections.audit.parts import Part, tagged_chunks
from refnet.projections.fold.batch import fold_batch
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Fact
from refnet.projections.fold.rows import ParticipantRows, RejectionRow
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store.outcomes import DeadLetter, Incoming
from refnet.projections.worker.log_reader import log_ends
from refnet.projections.worker.projector import Record, classify, classifying_processes
from refnet.projections.worker.signatures import KeyRing

CHUNK = 2_000  # records per task handed to a worker process
SMALL_LOG = 20_000  # records below which one process is quicker
# A record as (partition, offset, key, value): what crosses to a worker process, cheap to pickle.
RecordTuple = tuple[int, int, bytes | None, bytes | None]


@dataclass
class Replay:
    """The state of a fold over a prefix of the log."""

    keys: KeyRing
    states: dict[str, ParticipantState] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    rejections: list[RejectionRow] = field(default_factory=list)
    ends: dict[int, int] = field(default_factory=dict)  # next offset per partition
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    seconds: float = 0.0  # spent classifying and folding in this process
    wall_seconds: float = 0.0  # from the first read to the last fold, for `replay_log`

    def feed(self, records: Iterable[Record]) -> None:
        """Classify and fold `records`; within a partition they must come in offset order."""
        started = time.perf_counter()
        keys = self.keys
        incoming = [classify(Record(r.partition, r.offset, r.key, r.value), keys) for r in records]
        self.seconds += time.perf_counter() - started
        self.fold(incoming)

    def fold(self, batch: Sequence[Incoming]) -> None:
        """Fold records already classified, in log order within each partition."""
        started = time.perf_counter()
        facts: list[tuple[str, Fact]] = []
        for incoming in batch:
            self.records += 1
            self.ends[incoming.position.partition] = incoming.position.offset + 1
            item = incoming.item
            if isinstance(item, DeadLetter):
                self.dead_letters.append(item)
                continue
            assert incoming.participant_id is not None
            facts.append((incoming.participant_id, item))
        folded = fold_batch(self.states, facts)
        self.applied += folded.applied
        self.duplicates += folded.duplicates
        self.rejections.extend(folded.rejections)
        self.seconds += time.perf_counter() - started

    @property
    def rate(self) -> float:
        """Records per second of this process's own work: folding, and classifying when
        `feed` did it (reading the log and other processes' work excluded)."""
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def wall_rate(self) -> float:
        """Records per second of `replay_log`, reading and checking included."""
        return self.records / self.wall_seconds if self.wall_seconds else 0.0

    def stored_rejections(self) -> list[RejectionRow]:
        """One rejection per event_id, the first kept: what the store's ON CONFLICT DO NOTHING
        leaves in `rejections` (a redelivery, or an event_id reused under another participant)."""
        first: dict[str, RejectionRow] = {}
        for rejection in self.rejections:
            first.setdefault(rejection.event_id, rejection)
        return list(first.values())

    def rows(self) -> Iterable[ParticipantRows]:
        """The derived rows of every participant that has applied facts."""
        for state in self.states.values():
            if state.facts:
                yield derive(state)


# ------------------------------------------------------------------ classifying in processes

_worker_keys: KeyRing | None = None


def _start_worker(documents: list[dict[str, Any]]) -> None:
    global _worker_keys
    _worker_keys = KeyRing.from_documents(documents)


def _classify_chunk(records: list[RecordTuple]) -> list[Incoming]:
    assert _worker_keys is not None, "worker started without keys"
    return [classify(Record(*r), _worker_keys) for r in records]


def classified_parts(
    settings: Settings,
    keys: KeyRing,
    parts: Sequence[Part],
    workers: int | None = None,
) -> Iterator[tuple[int, list[Record], list[Incoming]]]:
    """The records of `parts` in chunks, each tagged with its part's index and each record
    beside the projection's verdict on it.

    Chunks come part by part, in log order within each partition. `workers`
    processes classify (default: one per core on a long log; 0: all in this
    process); the verdicts are the same. The processes run ahead across the
    border of two parts, so they never wait for the next part's first chunk.
    """
    chunks = tagged_chunks(settings, keys, parts, CHUNK)
    if workers is None:  # starting processes costs about a second: worth it on long logs
        total = sum(sum(p.ends.values()) for p in parts if p.bucket == 0)
        workers = classifying_processes() if total >= SMALL_LOG else 0
    if workers == 0 or keys.documents is None:
        for index, read in chunks:
            batch = [Record(r.partition, r.offset, r.key, r.value) for r in read]
            yield index, batch, [classify(r, keys) for r in batch]
        return
    ahead = 2 * workers  # chunks in flight: the workers never wait for this process
    with ProcessPoolExecutor(
        workers, initializer=_start_worker, initargs=(keys.documents,)
    ) as pool:
        pending: deque[tuple[int, list[RecordTuple], Future[list[Incoming]]]] = deque()
        for index, batch in chunks:
            raw = [(r.partition, r.offset, r.key, r.value) for r in batch]
            pending.append((index, raw, pool.submit(_classify_chunk, raw)))
            if len(pending) > ahead:
                yield _done(*pending.popleft())
        while pending:
            yield _done(*pending.popleft())


def _done(
    index: int, raw: list[RecordTuple], future: Future[list[Incoming]]
) -> tuple[int, list[Record], list[Incoming]]:
    return index, [Record(*r) for r in raw], future.result()


def classified_chunks(
    settings: Settings,
    keys: KeyRing,
    ends: dict[int, int],
    workers: int | None = None,
) -> Iterator[tuple[list[Record], list[Incoming]]]:
    """The whole log up to `ends` as one part, partitions interleaved (see `classified_parts`)."""
    for _, records, verdicts in classified_parts(settings, keys, [Part(dict(ends))], workers):
        yield records, verdicts


def replay_log(
    settings: Settings,
    keys: KeyRing,
    ends: dict[int, int] | None = None,
    on_progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Replay:
    """Fold the event log from offset 0 up to `ends` (default: its end when this starts)."""
    started = time.perf_counter()
    stop = ends if ends is not None else log_ends(settings)
    replay = Replay(keys, ends=dict.fromkeys(stop, 0))
    for records, verdicts in classified_chunks(settings, keys, stop, workers):
        replay.fold(verdicts)
        if on_progress is not None:
            on_progress(len(records))
    replay.wall_seconds = time.perf_counter() - started
    return replay
