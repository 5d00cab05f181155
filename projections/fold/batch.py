"""Folding a batch of facts into states: the one loop the store, the replay and the demo share.

Facts must come in log order within a participant. A rejected fact still
changes its state (the state remembers the event id), so it counts as changed.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field

from refnet.projections.fold.facts import Fact
from refnet.projections.fold.rows import RejectionRow, rejection_row
from refnet.projections.fold.rules import ParticipantState, Status, apply


@dataclass
class Folded:
    """What one batch did: counts, the rejections, and the states it changed."""

    applied: int = 0
    duplicates: int = 0
    rejections: list[RejectionRow] = field(default_factory=list)
    changed: dict[str, ParticipantState] = field(default_factory=dict)


def fold_batch(
    states: MutableMapping[str, ParticipantState], facts: Iterable[tuple[str, Fact]]
) -> Folded:
    """Apply each (participant_id, fact) to its state in `states`, made when missing."""
    folded = Folded()
    for pid, fact in facts:
        state = states.get(pid)
        if state is None:
            state = states[pid] = ParticipantState(pid)
        verdict = apply(state, fact)
        if verdict.status is Status.DUPLICATE:
            folded.duplicates += 1
            continue
        if verdict.status is Status.APPLIED:
            folded.applied += 1
        else:
            assert verdict.reason is not None
            folded.rejections.append(rejection_row(pid, fact, verdict.reason))
        folded.changed[pid] = state
    return folded
