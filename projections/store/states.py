"""The folded states a worker wrote last, kept in memory so a batch need not read them back.

A participant's events all live in one partition, and only the worker that owns
a partition writes its participants' states. So a state this worker committed
is still the stored one as long as the partition's stored offset is where this
worker left it. Every batch checks that under the offset rows' lock
(`check`): a partition whose offset moved without this worker (another worker
owned it for a while, a reset, a lost commit) drops its states here, and they
are read from PostgreSQL again. The cache is bounded; the oldest states go
first, and PostgreSQL always holds them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from refnet.projections.fold.rules import ParticipantState


class StateCache:
    """At most `limit` participants' states, each tagged with its partition."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._states: OrderedDict[str, tuple[int, ParticipantState]] = OrderedDict()
        self._next: dict[int, int] = {}  # next offset per partition, as of the states held
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._states)

    def check(self, stored: Mapping[int, int]) -> None:
        """Drop the states of every partition whose stored offset is not where this worker
        left it; call with the offsets read under lock, before using the states."""
        stale = {p for p, offset in stored.items() if self._next.get(p) != offset}
        if stale and self._states:
            for pid in [pid for pid, (p, _) in self._states.items() if p in stale]:
                del self._states[pid]
        for p in stale:
            self._next.pop(p, None)

    def get(self, participant_id: str) -> ParticipantState | None:
        held = self._states.get(participant_id)
        if held is None:
            self.misses += 1
            return None
        self.hits += 1
        self._states.move_to_end(participant_id)
        return held[1]

    def committed(
        self, states: Mapping[str, tuple[int, ParticipantState]], offsets: Mapping[int, int]
    ) -> None:
        """Keep `states` (participant → (partition, state)) as committed with `offsets`."""
        if self.limit <= 0:
            return
        for pid, held in states.items():
            self._states[pid] = held
            self._states.move_to_end(pid)
        self._next.update(offsets)
        while len(self._states) > self.limit:
            self._states.popitem(last=False)

    def clear(self) -> None:
        """Forget everything: after a failed transaction the states held may be ahead of it."""
        self._states.clear()
        self._next.clear()
