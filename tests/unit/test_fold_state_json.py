"""A participant state's JSON: its round trip, its form, and reloading mid-stream."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Fact
from refnet.projections.fold.rules import DUPLICATE, ParticipantState, StateTooOld, Status, apply
from tests.unit.fold_pool import POOL, _judged, histories
from tests.unit.history import PID, at_offsets, day, ev, stamp, state_of
from tests.unit.outcome_events import NOT_ENROLLED

# ------------------------------------------------------------- state JSON


def test_state_json_round_trip_keeps_every_fact_and_rejection() -> None:
    state, _ = _judged(POOL)

    again = ParticipantState.from_json(PID, state.to_json())

    assert again.participant_id == PID
    assert again.facts == state.facts
    assert again.rejected == state.rejected and again.rejected


def test_state_json_is_an_object_of_facts_and_rejections() -> None:
    state, _ = _judged(at_offsets(ev("participant.placed"), ev("participant.enrolled")))

    body = json.loads(state.to_json())

    assert set(body) == {"facts", "rejected"}
    assert [row[1] for row in body["facts"]] == ["participant.enrolled"]
    assert body["rejected"] == [[next(iter(state.rejected)), NOT_ENROLLED]]


def test_state_json_of_the_form_before_rejections_is_refused() -> None:
    # That form was never judged by `apply`; the fold trusts only what was.
    facts = at_offsets(ev("participant.enrolled"), ev("participant.placed", at=day(5)))
    old_form = json.dumps(facts, separators=(",", ":"))

    with pytest.raises(StateTooOld, match=f"participant {PID}.*refnet projections rebuild"):
        ParticipantState.from_json(PID, old_form)


def test_state_json_round_trip_derives_identically() -> None:
    state, _ = _judged(POOL)

    again = ParticipantState.from_json(PID, state.to_json())

    assert derive(again) == derive(state)


@settings(max_examples=100)
@given(histories(), st.integers(min_value=0, max_value=len(POOL)))
def test_a_state_reloaded_mid_stream_folds_on_like_one_never_stored(
    history: list[Fact], cut: int
) -> None:
    stored_part, _ = _judged(history[:cut])

    reloaded = ParticipantState.from_json(PID, stored_part.to_json())
    for fact in history[cut:]:
        apply(reloaded, fact)

    never_stored, _ = _judged(history)
    assert derive(reloaded) == derive(never_stored)
    assert reloaded.rejected == never_stored.rejected


def test_a_reloaded_state_still_knows_applied_and_rejected_event_ids() -> None:
    state, judged = _judged(POOL)
    reloaded = ParticipantState.from_json(PID, state.to_json())
    rejected = POOL[judged.index(next(v for v in judged if v.status is Status.REJECTED))]

    assert apply(reloaded, POOL[1]) == DUPLICATE
    assert apply(reloaded, rejected) == DUPLICATE


def test_state_json_keeps_times_canonical() -> None:
    state = state_of(at_offsets(ev("participant.enrolled", at=day(1))))

    again = ParticipantState.from_json(PID, state.to_json())

    assert derive(again).participant.first_enrolled_at == stamp(day(1))
