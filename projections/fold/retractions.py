"""Which events count as never having happened: retractions, their chains and their cycles.

Pure functions over one participant's facts, used by the rules and by `derive`.
"""

from __future__ import annotations

from refnet.projections.fold.facts import RETRACTED, Fact

# ------------------------------------------------------------------ retractions


def retracted_ids(facts: dict[str, Fact]) -> set[str]:
    """Events that count as never having happened.

    A retraction is effective only when it comes from the partner that emitted
    the original, and only while it is not itself retracted. `apply` admits no
    other, but a state stored before it judged the rules may hold a foreign
    retraction, a retraction that arrived before its original (it takes effect
    when the original does) or a cycle of retractions (which retracts nothing).
    """
    return _gone(_retractions(facts))


def _retractions(facts: dict[str, Fact]) -> dict[str, list[str]]:
    """Target event -> the retractions of it by its own emitter."""
    retractions: dict[str, list[str]] = {}
    for fact in facts.values():
        if fact.type == RETRACTED:
            target = facts.get(fact.data["retracted_event_id"])
            if target is not None and target.partner_id == fact.partner_id:
                retractions.setdefault(target.event_id, []).append(fact.event_id)
    return retractions


def _gone(retractions: dict[str, list[str]]) -> set[str]:
    decided: dict[str, bool] = {}
    for root in retractions:
        _decide(root, retractions, decided)
    return {event_id for event_id, gone in decided.items() if gone}


def _acyclic(retractions: dict[str, list[str]]) -> bool:
    """No chain of effective retractions leads back to where it started."""
    target_of = {r: target for target, rs in retractions.items() for r in rs}
    done: set[str] = set()
    for start in target_of:
        path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in path:
                return False
            path.add(node)
            node = target_of.get(node)
        done |= path
    return True


def _decide(root: str, retractions: dict[str, list[str]], decided: dict[str, bool]) -> None:
    """Iterative post-order walk: an event is retracted if any of its retractions stands."""
    in_progress: set[str] = set()
    stack = [root]
    while stack:
        event_id = stack[-1]
        if event_id in decided:
            stack.pop()
            continue
        pending = [
            r for r in retractions.get(event_id, ()) if r not in decided and r not in in_progress
        ]
        if pending and event_id not in in_progress:
            in_progress.add(event_id)
            stack.extend(pending)
            continue
        # A retraction still in progress here closes a cycle: it does not stand.
        decided[event_id] = any(
            not decided.get(r, True) for r in retractions.get(event_id, ()) if r not in in_progress
        )
        in_progress.discard(event_id)
        stack.pop()


def _live(facts: dict[str, Fact], gone: set[str]) -> list[Fact]:
    live = [f for f in facts.values() if f.type != RETRACTED and f.event_id not in gone]
    return sorted(live, key=lambda f: f.order)
