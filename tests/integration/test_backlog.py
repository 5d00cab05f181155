"""A backlog folded in bulk: the same read model as the live stream's, through kills.

A worker that starts far behind the log folds it with confluent-kafka in large
transactions before faust's stream takes over (`projections/worker/backlog.py`).
These tests hold the bulk fold to the live one, event for event, with two
workers starting together and one of them killed with SIGKILL mid-backlog.
"""

from __future__ import annotations

import pytest

from tests.integration.test_projection import (
    applied,
    assert_same_read_model,
    pid,
    wait_for_progress,
)
from tests.integration.world import World, enrolled, history

pytestmark = pytest.mark.integration

STREAM_ONLY = 10**12  # a backlog threshold no log reaches: the live stream folds everything


def _log(world: World, index: int) -> str:
    return (world.log_dir / f"worker-{index}.log").read_text(errors="replace")


def _apart(world: World, name: str, **overrides: object) -> World:
    """A sibling read model of `world` whose workers log into a directory of their own."""
    other = world.sibling(**overrides)
    other.log_dir = world.log_dir / name
    other.log_dir.mkdir()
    return other


async def test_two_workers_folding_a_backlog_one_killed_equal_the_live_stream(
    world: World,
) -> None:
    events = history(20_000, pid())  # about 27,000 events
    world.publish(events[: len(events) // 2])
    world.publish_raw(b"poison", b"\xff not json")  # a dead letter inside the backlog
    world.publish(events[len(events) // 2 :])
    world.publish([enrolled(pid())])
    total = len(events) + 2
    bulk = _apart(world, "bulk", catchup_batch_size=1_500, catchup_min_lag=1_000)
    stream = _apart(world, "stream", catchup_min_lag=STREAM_ONLY)
    try:
        workers = [bulk.start_worker(), bulk.start_worker()]
        await wait_for_progress(bulk, at_least=4_000)
        folding = [
            n
            for n in (0, 1)
            if "folding a backlog" in (log := _log(bulk, n)) and "backlog folded" not in log
        ]
        assert folding, "neither worker folds the backlog in bulk"
        bulk.kill(workers[folding[0]])  # SIGKILL mid-backlog: its open chunk is rolled back
        assert await applied(bulk) < total
        bulk.start_worker()
        await bulk.wait(timeout=300)
        survivor = workers[1 - folding[0]]
        assert survivor.poll() is None, "the other worker stopped"
        stream.start_worker()
        await stream.wait(timeout=300)
        assert "folding a backlog" not in _log(stream, 0)
        assert_same_read_model(await bulk.dump(), await stream.dump())
        parked = await bulk.fetch("SELECT reason FROM dead_letters")
        assert [r[0][:11] for r in parked] == ["undecodable"]
    finally:
        for other in (bulk, stream):
            other.stop_all()
            await other.drop_schema()
