"""Which events count as never having happened: retractions and their chains.

Pure functions over one participant's facts, used by the rules and by `derive`.
"""

from __future__ import annotations

from refnet.projections.fold.facts import RETRACTED, Fact

# ------------------------------------------------------------------ retractions


def retracted_ids(facts: dict[str, Fact]) -> set[str]:
    """Events that count as never having happened.

    A retraction counts while it is not itself retracted. `apply` admits only a
    retraction of an event already applied, by the partner that emitted it, so
    every stored retraction is effective and no chain of them loops back.
    """
    return _gone(_retractions(facts))


def _retractions(facts: dict[str, Fact]) -> dict[str, list[str]]:
    """Target event -> its retractions."""
    retractions: dict[str, list[str]] = {}
    for fact in facts.values():
        if fact.type == RETRACTED:
            retractions.setdefault(fact.data["retracted_event_id"], []).append(fact.event_id)
    return retractions


def _gone(retractions: dict[str, list[str]]) -> set[str]:
    decided: dict[str, bool] = {}
    for root in retractions:
        _decide(root, retractions, decided)
    return {event_id for event_id, gone in decided.items() if gone}


def _decide(root: str, retractions: dict[str, list[str]], decided: dict[str, bool]) -> None:
    """Iterative post-order walk: an event is retracted if any of its retractions stands."""
    stack, limit = [root], _nodes(retractions)
    while stack:
        event_id = stack[-1]
        pending = [r for r in retractions.get(event_id, ()) if r not in decided]
        if pending:
            if len(stack) > limit:  # `apply` admits no cycle; never hang on one
                raise ValueError(f"a cycle of retractions through event {event_id}")
            stack.extend(pending)
            continue
        decided[event_id] = any(not decided[r] for r in retractions.get(event_id, ()))
        stack.pop()


def _nodes(retractions: dict[str, list[str]]) -> int:
    return len(retractions) + sum(len(r) for r in retractions.values())


def _live(facts: dict[str, Fact], gone: set[str]) -> list[Fact]:
    live = [f for f in facts.values() if f.type != RETRACTED and f.event_id not in gone]
    return sorted(live, key=lambda f: f.order)
