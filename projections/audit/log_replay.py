"""The whole log folded part by part: totals kept, states only for the part in hand.

`LogReplay.parts()` hands out one `Replay` per part (see `parts.py`) with that
part's states, dead letters and rejections; the caller counts, tallies or
writes them and lets them go before the next part is folded. Outcome counts,
ESF tallies and derived rows are per participant, and a participant lives in
one partition, so what the parts add up to is what one fold of the whole log
gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from refnet.events.settings import Settings
from refnet.projections.audit.parts import PART_RECORDS, Part, plan_parts
from refnet.projections.audit.replay import Replay, classified_parts
from refnet.projections.fold.rows import RejectionRow
from refnet.projections.store.outcomes import Incoming
from refnet.projections.worker.log_reader import log_ends
from refnet.projections.worker.projector import Record
from refnet.projections.worker.signatures import KeyRing


@dataclass
class LogReplay:
    """A fold of the log from offset 0 up to `stop` (default: its end when `parts` starts)."""

    settings: Settings
    keys: KeyRing
    stop: dict[int, int] | None = None
    on_progress: Callable[[int], None] | None = None
    workers: int | None = None
    limit: int = PART_RECORDS  # records per part
    # Records from these offsets on are classified (and shown to `on_chunk`) but not folded.
    fold_to: dict[int, int] | None = None
    on_chunk: Callable[[list[Record], list[Incoming]], None] | None = None
    ends: dict[int, int] = field(default_factory=dict)  # next offset per partition
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letter_count: int = 0
    rejection_count: int = 0
    participants: int = 0  # states with applied facts
    seconds: float = 0.0  # spent folding in this process (as Replay.seconds)
    wall_seconds: float = 0.0  # reading, checking and folding; not the caller's time with a part
    largest_part: int = 0  # most states alive at once
    _stored_ids: set[str] = field(default_factory=set)  # event ids of rejections kept so far
    _held: list[RejectionRow] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Records per second of this process's own fold work."""
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def wall_rate(self) -> float:
        """Records per second, reading and checking included."""
        return self.records / self.wall_seconds if self.wall_seconds else 0.0

    def parts(self) -> Iterator[Replay]:
        """Fold part by part, yielding each part's fold. A part is emptied when the next is
        asked for, so a caller still holding it (a loop variable) holds no states."""
        started = time.perf_counter()
        stop = self.stop if self.stop is not None else log_ends(self.settings)
        self.ends = dict.fromkeys(stop, 0)
        plan = plan_parts(stop, self.limit)
        current: Replay | None = None
        at = -1
        away = 0.0  # time the caller held a part
        for index, records, verdicts in classified_parts(
            self.settings, self.keys, plan, self.workers
        ):
            if index != at:
                if current is not None:
                    handed = time.perf_counter()
                    yield self._finish(current, plan[at], plan[index])
                    _spend(current)
                    away += time.perf_counter() - handed
                current, at = Replay(self.keys), index
            assert current is not None
            if self.on_chunk is not None:
                self.on_chunk(records, verdicts)
            if self.fold_to is not None:
                to = self.fold_to
                verdicts = [
                    v
                    for r, v in zip(records, verdicts, strict=True)
                    if r.offset < to.get(r.partition, 0)
                ]
            current.fold(verdicts)
            if self.on_progress is not None:
                self.on_progress(len(records))
        if current is not None:
            handed = time.perf_counter()
            yield self._finish(current, plan[at], None)
            _spend(current)
            away += time.perf_counter() - handed
        self.wall_seconds = time.perf_counter() - started - away

    def _finish(self, part: Replay, planned: Part, following: Part | None) -> Replay:
        """Add the part to the totals; hold a split partition's rejections until its last
        bucket with records, so they come in offset order as in one fold of the partition."""
        self.records += part.records
        self.applied += part.applied
        self.duplicates += part.duplicates
        self.dead_letter_count += len(part.dead_letters)
        self.rejection_count += len(part.rejections)
        self.participants += sum(1 for s in part.states.values() if s.facts)
        self.seconds += part.seconds
        self.largest_part = max(self.largest_part, len(part.states))
        for partition, end in part.ends.items():
            self.ends[partition] = max(self.ends.get(partition, 0), end)
        if planned.split:
            self._held += part.rejections
            part.rejections = []
            if following is None or following.ends.keys() != planned.ends.keys():
                part.rejections, self._held = sorted(self._held, key=lambda r: r.offset), []
        return part

    def stored_rejections(self, part: Replay) -> list[RejectionRow]:
        """The part's rejections the store keeps: one per event_id over the whole log, the
        first kept (ON CONFLICT DO NOTHING); parts come in partition order."""
        kept: list[RejectionRow] = []
        for rejection in part.stored_rejections():
            if rejection.event_id not in self._stored_ids:
                self._stored_ids.add(rejection.event_id)
                kept.append(rejection)
        return kept


def _spend(part: Replay) -> None:
    """Let go of what a part held once its caller is done with it."""
    part.states.clear()
    part.dead_letters.clear()
    part.rejections.clear()
