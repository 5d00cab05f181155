"""A batch is applied only if it continues the stored offsets exactly: no hole, ever."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.projections.fold.facts import Position
from refnet.projections.store.outcomes import (
    DeadLetter,
    Incoming,
    OffsetMismatch,
    continuing,
    first_hole,
)
from refnet.projections.worker.gaps import GapGuard


def record(partition: int, offset: int) -> Incoming:
    position = Position(partition, offset)
    return Incoming(position, None, DeadLetter(position, b"x", "undecodable: test"))


def offsets_of(batch: list[Incoming]) -> list[tuple[int, int]]:
    return [(i.position.partition, i.position.offset) for i in batch]


def test_a_batch_at_the_stored_offset_is_applied_whole_in_log_order() -> None:
    batch = [record(0, 5), record(1, 0), record(0, 6), record(1, 1)]
    assert offsets_of(continuing(batch, {0: 5, 1: 0})) == [(0, 5), (0, 6), (1, 0), (1, 1)]


def test_a_later_offset_delivered_first_is_applied_after_the_earlier() -> None:
    assert offsets_of(continuing([record(0, 18), record(0, 17)], {0: 17})) == [(0, 17), (0, 18)]


def test_redeliveries_below_the_stored_offset_are_dropped_and_the_rest_applies() -> None:
    batch = [record(0, 3), record(0, 4), record(0, 5), record(0, 6)]
    assert offsets_of(continuing(batch, {0: 5})) == [(0, 5), (0, 6)]


def test_a_record_delivered_twice_in_one_batch_is_applied_once() -> None:
    batch = [record(0, 5), record(0, 6), record(0, 5), record(0, 6), record(0, 7)]
    assert offsets_of(continuing(batch, {0: 5})) == [(0, 5), (0, 6), (0, 7)]


def test_a_batch_starting_past_the_stored_offset_is_refused_with_the_stored_offsets() -> None:
    # What PostgreSQL held after losing its last commits: the batch begins beyond it.
    batch = [record(0, 120), record(0, 121), record(1, 7)]
    with pytest.raises(OffsetMismatch) as refused:
        continuing(batch, {0: 100, 1: 7})
    assert refused.value.stored == {0: 100, 1: 7}
    assert refused.value.holes == {0: 120}
    assert "partition 0 offset 120 where 100 is next" in str(refused.value)


def test_a_hole_inside_a_batch_is_refused() -> None:
    with pytest.raises(OffsetMismatch) as refused:
        continuing([record(2, 0), record(2, 1), record(2, 3)], {2: 0})
    assert refused.value.holes == {2: 3}


def test_after_a_reset_to_zero_every_later_batch_is_refused_until_the_log_is_read_again() -> None:
    with pytest.raises(OffsetMismatch):
        continuing([record(0, 4000)], {0: 0})
    assert offsets_of(continuing([record(0, 0), record(0, 1)], {0: 0})) == [(0, 0), (0, 1)]


def test_first_hole() -> None:
    assert first_hole([], 3) is None
    assert first_hole([3, 4, 5], 3) is None
    assert first_hole([4], 3) == 4
    assert first_hole([3, 5], 3) == 5


@given(
    stored=st.integers(0, 50),
    offsets=st.lists(st.integers(0, 120), max_size=40),
)
def test_whatever_is_delivered_the_applied_offsets_continue_the_stored_one(
    stored: int, offsets: list[int]
) -> None:
    batch = [record(0, o) for o in offsets]
    try:
        applied = [o for _, o in offsets_of(continuing(batch, {0: stored}))]
    except OffsetMismatch as refused:
        assert refused.stored == {0: stored}
        above = sorted({o for o in offsets if o >= stored})
        assert above != list(range(stored, stored + len(above)))
        return
    assert applied == list(range(stored, stored + len(applied)))
    assert set(applied) == {o for o in offsets if o >= stored}


def test_the_guard_rewinds_to_the_stored_offsets_after_a_refusal() -> None:
    guard = GapGuard()
    guard.reset({0: 100, 1: 5})
    guard.check([Position(0, o) for o in range(100, 130)])
    assert guard.expected[0] == 130
    guard.rewind({0: 100})
    assert guard.expected == {0: 100, 1: 5}
