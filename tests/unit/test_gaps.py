"""The gap guard never lets the worker apply past a hole in a partition."""

from __future__ import annotations

from typing import NamedTuple

from refnet.projections.worker.gaps import GapGuard


class Rec(NamedTuple):
    partition: int
    offset: int


def test_in_order_records_pass_and_advance() -> None:
    guard = GapGuard()
    guard.reset({0: 5})
    keep, seek = guard.check([Rec(0, 5), Rec(0, 6)])
    assert keep == [Rec(0, 5), Rec(0, 6)] and seek == {}
    assert guard.expected[0] == 7


def test_redeliveries_below_the_stored_offset_pass_through_to_the_store() -> None:
    guard = GapGuard()
    guard.reset({0: 5})
    keep, seek = guard.check([Rec(0, 3), Rec(0, 4), Rec(0, 5)])
    assert keep == [Rec(0, 3), Rec(0, 4), Rec(0, 5)] and seek == {}


def test_a_jump_ahead_is_dropped_and_sought_back_until_the_hole_fills() -> None:
    guard = GapGuard()
    guard.reset({0: 5, 1: 0})
    keep, seek = guard.check([Rec(0, 9), Rec(1, 0), Rec(0, 10)])
    assert keep == [Rec(1, 0)] and seek == {0: 5}
    keep, seek = guard.check([Rec(0, 11), Rec(0, 12)])  # still stale: seek again
    assert keep == [] and seek == {0: 5}
    assert guard.dropped == 4
    keep, seek = guard.check([Rec(0, 5), Rec(0, 6)])
    assert keep == [Rec(0, 5), Rec(0, 6)] and seek == {}


def test_reset_forgets_pending_seeks() -> None:
    guard = GapGuard()
    guard.reset({0: 5})
    guard.check([Rec(0, 9)])
    guard.reset({0: 9})
    keep, seek = guard.check([Rec(0, 9)])
    assert keep == [Rec(0, 9)] and seek == {}
