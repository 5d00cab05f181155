"""The pure fold's retractions: by whom, of retractions, no cycles, and long chains."""

from __future__ import annotations

import pytest

from refnet.events.catalogue import EventModel
from refnet.projections.fold.derive import derive
from refnet.projections.fold.retractions import retracted_ids
from refnet.projections.fold.rules import (
    ParticipantState,
    live_facts,
)
from tests.unit.history import PID, at_offsets, day, ev, event_id, fold, retract, state_of
from tests.unit.outcome_events import stored

# ------------------------------------------------------------- retractions


def test_a_retraction_by_the_emitting_partner_takes_effect() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))

    rows = fold(enrolled, retract(enrolled, at=day(2)))

    assert rows.participant.enrolled is False
    assert rows.links == []


def test_retracting_a_retraction_restores_the_original() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    first = retract(enrolled, at=day(2))

    rows = fold(enrolled, first, retract(first, at=day(3)))

    assert rows.participant.enrolled is True


def test_retracting_the_retraction_of_a_retraction_retracts_again() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    first = retract(enrolled, at=day(2))
    second = retract(first, at=day(3))

    rows = fold(enrolled, first, second, retract(second, at=day(4)))

    assert rows.participant.enrolled is False


def test_only_the_retraction_emitter_can_retract_the_retraction() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    first = retract(enrolled, at=day(2))

    rows = fold(enrolled, first, retract(first, partner="bobeq", at=day(3)))

    assert rows.participant.enrolled is False


def test_one_live_retraction_suffices_when_another_is_itself_retracted() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    withdrawn = retract(enrolled, at=day(2))
    standing = retract(enrolled, at=day(3))

    rows = fold(enrolled, withdrawn, standing, retract(withdrawn, at=day(4)))

    assert rows.participant.enrolled is False


def _retraction_of(target_key: str, key: str, partner: str = "awo-en") -> EventModel:
    return ev(
        "event.retracted",
        partner,
        day(2),
        key=key,
        retracted_event_id=event_id(target_key),
        reason="cycle",
    )


def test_apply_never_lets_a_retraction_cycle_form() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    one = _retraction_of("never-two", key="never-one")
    two = _retraction_of("never-one", key="never-two")
    state = state_of(at_offsets(enrolled, one, two))

    assert set(state.rejected) == {str(one.event_id), str(two.event_id)}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("keys", [("cycle-one", "cycle-two"), ("selfish",)])
def test_a_cycle_no_apply_can_make_is_an_error_not_a_hang(keys: tuple[str, ...]) -> None:
    # `apply` admits only retractions of earlier events, so only a corrupted state has one.
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    cycle = [_retraction_of(keys[i - 1], key=key) for i, key in enumerate(keys)]
    state = stored(at_offsets(enrolled, *cycle))

    with pytest.raises(ValueError, match="a cycle of retractions"):
        derive(state)


def _retraction_chain(length: int) -> list[EventModel]:
    """An enrolment, a retraction of it, a retraction of that, ... (`length` retractions)."""
    events: list[EventModel] = [ev("participant.enrolled", "awo-en", day(1))]
    for step in range(length):
        events.append(retract(events[-1], at=day(2, hours=step)))
    return events


@pytest.mark.parametrize("length", [1, 2, 3, 4, 15, 16])
def test_a_chain_of_retractions_alternates(length: int) -> None:
    rows = fold(*_retraction_chain(length))

    assert rows.participant.enrolled is (length % 2 == 0)


@pytest.mark.parametrize("length", [17, 19])
def test_a_chain_of_more_than_sixteen_retractions_still_alternates(length: int) -> None:
    rows = fold(*_retraction_chain(length))

    assert rows.participant.enrolled is (length % 2 == 0)


@pytest.mark.parametrize("length", [2, 3, 16, 17])
def test_a_chain_of_retractions_judged_live_matches_one_judged_after_reloading(
    length: int,
) -> None:
    facts = at_offsets(*_retraction_chain(length))
    live = state_of(facts)

    reloaded = ParticipantState.from_json(PID, live.to_json())

    assert live_facts(live) == live_facts(reloaded)
    assert retracted_ids(live.facts) == retracted_ids(reloaded.facts)
