"""The worker's state cache against PostgreSQL: never a stale state folded on.

Two stores on one read model stand for two workers that owned a partition in
turn; the cache must see that the partition moved without it and read the
participant's state back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from refnet.projections.store.outcomes import OutcomeStore
from refnet.projections.store.states import StateCache
from tests.integration.test_outcome_port import at, migrated_pool
from tests.integration.world import T0, enrolled, new_pid, placed, retracted

pytestmark = pytest.mark.integration

TOPIC = "cache-events"


@pytest.fixture
async def pool(infrastructure: object) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool() as migrated:
        yield migrated


async def _placed_count(pool: asyncpg.Pool, pid: str) -> int:
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT count(*) FROM participants WHERE participant_id = $1 AND placed_at IS NOT NULL",
            pid,
        )
    return int(value)


async def test_a_partition_written_by_another_worker_meanwhile_is_read_back(
    pool: asyncpg.Pool,
) -> None:
    first = OutcomeStore(pool, TOPIC, cache=StateCache(100))
    second = OutcomeStore(pool, TOPIC, cache=StateCache(100))
    await first.ensure_partitions(1)
    pid = new_pid("cache")
    joined, job = enrolled(pid), placed(pid, at=T0 + dt.timedelta(days=3))

    await first.apply_batch([at(0, 0, joined)])
    assert first.cache is not None and first.cache.get(pid) is not None
    await second.apply_batch([at(0, 1, job)])  # the partition was the second worker's a while
    # Back with the first: retracting the placement only holds against the state that has it.
    await first.apply_batch([at(0, 2, retracted(job, at=T0 + dt.timedelta(days=4)))])

    async with pool.acquire() as conn:
        rejected = await conn.fetchval("SELECT count(*) FROM rejections")
    assert rejected == 0, "the first worker folded on its stale state"
    assert await _placed_count(pool, pid) == 0


async def test_a_cached_state_saves_the_read_and_gives_the_same_rows(pool: asyncpg.Pool) -> None:
    cache = StateCache(100)
    store = OutcomeStore(pool, TOPIC, cache=cache)
    await store.ensure_partitions(1)
    pid = new_pid("cache")

    await store.apply_batch([at(0, 0, enrolled(pid))])
    misses = cache.misses
    await store.apply_batch([at(0, 1, placed(pid, at=T0 + dt.timedelta(days=3)))])

    assert cache.misses == misses and cache.hits >= 1
    assert await _placed_count(pool, pid) == 1


async def test_a_failed_transaction_forgets_the_states_it_changed(pool: asyncpg.Pool) -> None:
    cache = StateCache(100)
    store = OutcomeStore(pool, TOPIC, cache=cache)
    await store.ensure_partitions(1)
    pid = new_pid("cache")
    await store.apply_batch([at(0, 0, enrolled(pid))])
    async with pool.acquire() as conn:  # the next write fails inside the transaction
        await conn.execute("ALTER TABLE participants ADD CONSTRAINT never CHECK (false) NOT VALID")

    with pytest.raises(asyncpg.CheckViolationError):
        await store.apply_batch([at(0, 1, placed(pid, at=T0 + dt.timedelta(days=3)))])

    assert len(cache) == 0
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE participants DROP CONSTRAINT never")
    await store.apply_batch([at(0, 1, placed(pid, at=T0 + dt.timedelta(days=3)))])
    assert await _placed_count(pool, pid) == 1
