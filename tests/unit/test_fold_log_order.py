"""Properties of the pure fold over any history in log order: judged once, stored alike."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import RETRACTED, Fact
from refnet.projections.fold.rules import APPLIED, DUPLICATE, ParticipantState, Status, apply
from tests.unit.fold_pool import _POOL_EVENTS, POOL, _judged, counted, histories
from tests.unit.history import PID, at_offsets, day, retract

# ------------------------------------------------- log order (properties)


def test_the_whole_pool_holds_applied_and_rejected_events() -> None:
    state, judged = _judged(POOL)

    statuses = {v.status for v in judged}
    assert statuses == {Status.APPLIED, Status.REJECTED}
    assert len(state.facts) + len(state.rejected) == len(POOL)


@settings(max_examples=300)
@given(histories())
def test_every_event_is_either_applied_or_rejected_never_both(history: list[Fact]) -> None:
    state, judged = _judged(history)

    applied = {f.event_id for f, v in zip(history, judged, strict=True) if v == APPLIED}
    assert set(state.facts) == applied
    assert set(state.rejected) == {f.event_id for f in history} - applied
    assert all((v.reason is None) == (v == APPLIED) for v in judged)


@settings(max_examples=300)
@given(histories(), st.data())
def test_re_applying_facts_changes_nothing(history: list[Fact], data: st.DataObject) -> None:
    state, _ = _judged(history)
    before = (derive(state), dict(state.facts), dict(state.rejected))
    replayed = data.draw(st.lists(st.sampled_from(history))) if history else []

    again = [apply(state, fact) for fact in replayed]

    assert again == [DUPLICATE] * len(replayed)
    assert (derive(state), state.facts, state.rejected) == before


@settings(max_examples=300)
@given(histories())
def test_a_state_stored_and_reloaded_before_each_event_judges_the_same(
    history: list[Fact],
) -> None:
    live, judged_live = _judged(history)
    reloaded = ParticipantState(PID)
    judged_reloaded = []
    for fact in history:
        reloaded = ParticipantState.from_json(PID, reloaded.to_json())
        judged_reloaded.append(apply(reloaded, fact))

    assert judged_reloaded == judged_live
    assert (reloaded.facts, reloaded.rejected) == (live.facts, live.rejected)
    assert derive(reloaded) == derive(live)


@settings(max_examples=300)
@given(histories(), st.data())
def test_a_retracted_event_counts_as_if_it_never_happened(
    history: list[Fact], data: st.DataObject
) -> None:
    state, _ = _judged(history)
    if not state.facts:
        return
    target = data.draw(st.sampled_from(sorted(state.facts.values())))
    original_event = _POOL_EVENTS[target.offset]
    (retraction,) = at_offsets(retract(original_event, at=day(300)), partition=1)
    before = derive(state)

    verdict = apply(state, retraction)

    if verdict == APPLIED:
        without = _never_happened(state.facts, target.event_id)
        assert counted(derive(state)) == counted(derive(ParticipantState(PID, without)))
    else:  # the only rules a retraction by the emitter of an applied event can break
        reason = verdict.reason or ""
        assert reason.endswith("no longer be withdrawn") or reason.startswith("retracting it")
        assert derive(state) == before
    reloaded = ParticipantState.from_json(PID, state.to_json())
    assert derive(reloaded) == derive(state)


def _never_happened(facts: dict[str, Fact], event_id: str) -> dict[str, Fact]:
    """The facts as if `event_id` had never been published: it, and every retraction
    whose chain leads to it, left out."""
    gone = {event_id}
    while more := {
        k
        for k, f in facts.items()
        if k not in gone and f.type == RETRACTED and f.data["retracted_event_id"] in gone
    }:
        gone |= more
    return {k: f for k, f in facts.items() if k not in gone}
