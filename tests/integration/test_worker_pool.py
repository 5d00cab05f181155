"""`refnet projections run --workers 4`: four workers in one group, one killed and one added
mid-stream, give the same read model as a single worker folding the same log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from refnet.services.localstack.process import settings_env
from tests.integration.test_projection import assert_same_read_model, wait_for_progress
from tests.integration.world import World, history, new_pid

pytestmark = pytest.mark.integration
LIVE = """
SELECT pid, partitions FROM projection_workers
WHERE consumer_group = $1 AND heartbeat_at > now() - interval '8 seconds'
"""


def pool_children(pool: subprocess.Popen[bytes]) -> set[int]:
    return {c.pid for c in psutil.Process(pool.pid).children() if c.is_running()}


async def owners(world: World, pids: set[int], timeout: float = 90.0) -> dict[int, set[int]]:
    """Until each of `pids` owns partitions of its own and together they own all of them."""
    deadline = time.monotonic() + timeout
    owned: dict[int, set[int]] = {}
    while time.monotonic() < deadline:
        rows = await world.fetch(LIVE, world.settings.consumer_group)
        owned = {pid: set(parts or []) for pid, parts in rows if pid in pids}
        mine = [owned.get(pid, set()) for pid in pids]
        everything = set().union(*mine) == set(range(world.settings.topic_partitions))
        if all(mine) and everything and sum(map(len, mine)) == len(set().union(*mine)):
            return owned
        await asyncio.sleep(0.3)  # polling the next heartbeats
    raise AssertionError(f"{sorted(pids)} never owned disjoint partitions: {owned}")


async def test_four_workers_one_killed_and_one_added_equal_one_worker(world: World) -> None:
    env = settings_env(world.settings) | {"PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "refnet.services.cli.main", "projections", "run"]
    with (world.log_dir / "pool.log").open("ab") as out:
        pool = subprocess.Popen(
            [*argv, "--workers", "4"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while len(pool_children(pool)) < 4:
            assert pool.poll() is None and time.monotonic() < deadline, "the pool did not start 4"
            await asyncio.sleep(0.2)
        first = pool_children(pool)
        sent = world.publish(history(1500, new_pid("w")))
        owned = await owners(world, first)
        assert len(owned) == 4
        sent += world.publish(history(3000, new_pid("w")))
        await wait_for_progress(world, at_least=sent - 2000)
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)  # removed mid-stream; the pool starts another
        extra = world.start_worker()  # and a fifth joins the group from outside
        sent += world.publish(history(1500, new_pid("w")))
        deadline = time.monotonic() + 60
        while victim in pool_children(pool) or len(pool_children(pool)) < 4:
            assert time.monotonic() < deadline, "the pool did not replace the killed worker"
            await asyncio.sleep(0.2)
        await owners(world, pool_children(pool) | {extra.pid})
        extra.terminate()  # removed again
        extra.wait(timeout=60)
        sent += world.publish(history(1000, new_pid("w")))
        await world.wait(timeout=240)
        single = world.sibling()
        single.start_worker()
        try:
            await single.wait(timeout=240)
            assert_same_read_model(await world.dump(), await single.dump())
        finally:
            single.stop_all()
            await single.drop_schema()
        children = pool_children(pool)
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(timeout=60) == 0
        assert not any(psutil.pid_exists(c) and psutil.Process(c).is_running() for c in children)
    finally:
        if pool.poll() is None:
            pool.kill()
            pool.wait()
