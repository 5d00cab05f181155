"""Folding the log in memory: the projection's own steps, with no database.

A replay takes records as the live worker does (`classify`: decode, validate,
check the signature) and folds them with the same `apply`, so it decides
exactly what the projection decides: which events are dead letters, which
break a rule, which count. Audit replays, `audit verify` and rebuilds all
start from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from refnet.events.settings import Settings
from refnet.projections.fold import ParticipantState, Status, apply, derive
from refnet.projections.log_reader import LogRecord, log_ends, read_log
from refnet.projections.projector import Record, classify
from refnet.projections.rows import ParticipantRows, RejectionRow, rejection_row
from refnet.projections.signatures import KeyRing
from refnet.projections.store import DeadLetter


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
    seconds: float = 0.0

    def feed(self, records: Iterable[LogRecord | Record]) -> None:
        """Fold `records`; within a partition they must come in offset order."""
        started = time.perf_counter()
        states, keys = self.states, self.keys
        for record in records:
            incoming = classify(
                Record(record.partition, record.offset, record.key, record.value), keys
            )
            self.records += 1
            self.ends[record.partition] = record.offset + 1
            item = incoming.item
            if isinstance(item, DeadLetter):
                self.dead_letters.append(item)
                continue
            assert incoming.participant_id is not None
            pid = incoming.participant_id
            state = states.get(pid)
            if state is None:
                state = states[pid] = ParticipantState(pid)
            verdict = apply(state, item)
            if verdict.status is Status.APPLIED:
                self.applied += 1
            elif verdict.status is Status.DUPLICATE:
                self.duplicates += 1
            else:
                assert verdict.reason is not None
                self.rejections.append(rejection_row(pid, item, verdict.reason))
        self.seconds += time.perf_counter() - started

    @property
    def rate(self) -> float:
        """Records folded per second of fold time (reading excluded)."""
        return self.records / self.seconds if self.seconds else 0.0

    def rows(self) -> Iterable[ParticipantRows]:
        """The derived rows of every participant that has applied facts."""
        for state in self.states.values():
            if state.facts:
                yield derive(state)


def replay_log(
    settings: Settings,
    keys: KeyRing,
    ends: dict[int, int] | None = None,
    on_progress: Callable[[int], None] | None = None,
    chunk: int = 5_000,
) -> Replay:
    """Fold the event log from offset 0 up to `ends` (default: its end when this starts)."""
    stop = ends if ends is not None else log_ends(settings)
    replay = Replay(keys, ends=dict.fromkeys(stop, 0))
    buffer: list[LogRecord] = []
    for record in read_log(settings, stop):
        buffer.append(record)
        if len(buffer) >= chunk:
            replay.feed(buffer)
            if on_progress is not None:
                on_progress(len(buffer))
            buffer = []
    replay.feed(buffer)
    if on_progress is not None and buffer:
        on_progress(len(buffer))
    return replay
