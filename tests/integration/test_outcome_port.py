"""The outcome store's contract, run against the in-memory fake and against PostgreSQL.

Whatever passes here for one passes for the other, so the projector's unit
tests on the fake say something about the worker on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from refnet.events.catalogue import EventModel
from refnet.projections.fold.facts import Position, fact_of
from refnet.projections.store.database import create_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.store.outcomes import (
    DeadLetter,
    Incoming,
    OffsetMismatch,
    OutcomePort,
    OutcomeStore,
)
from refnet.projections.store.states import StateCache
from tests.fakes.outcome_store import FakeOutcomeStore
from tests.integration.world import T0, enrolled, isolated_settings, new_pid, placed

pytestmark = pytest.mark.integration

TOPIC = "contract-events"


@pytest.fixture(params=["fake", "postgres", "postgres-cached"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[OutcomePort]:
    if request.param == "fake":
        fake = FakeOutcomeStore()
        await fake.ensure_partitions(2)
        yield fake
        return
    request.getfixturevalue("infrastructure")
    async with migrated_pool() as pool:
        cache = StateCache(1_000) if request.param == "postgres-cached" else None
        real = OutcomeStore(pool, TOPIC, cache=cache)
        await real.ensure_partitions(2)
        yield real


@asynccontextmanager
async def migrated_pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool on a read model and registry of their own, migrated, dropped afterwards."""
    settings = isolated_settings()
    pool = await create_pool(
        settings.database_url, settings.read_model_schema, settings.registry_schema
    )
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
        yield pool
    finally:
        async with pool.acquire() as conn:
            for schema in (settings.read_model_schema, settings.registry_schema):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await pool.close()


def at(partition: int, offset: int, event: EventModel) -> Incoming:
    position = Position(partition, offset)
    return Incoming(position, event.participant_id, fact_of(event, position))


def letter(partition: int, offset: int) -> Incoming:
    position = Position(partition, offset)
    return Incoming(position, None, DeadLetter(position, b"\xff", "undecodable: test"))


def person_batch(partition: int, first: int) -> list[Incoming]:
    pid = new_pid("c")
    return [
        at(partition, first, enrolled(pid)),
        at(partition, first + 1, placed(pid, at=T0 + dt.timedelta(days=3))),
    ]


async def test_a_batch_at_the_stored_offsets_is_applied_and_moves_them(store: OutcomePort) -> None:
    result = await store.apply_batch([*person_batch(0, 0), *person_batch(1, 0)])

    assert (result.applied, result.duplicates, result.dead_lettered) == (4, 0, 0)
    assert await store.offsets() == {0: 2, 1: 2}


async def test_a_redelivered_batch_changes_nothing(store: OutcomePort) -> None:
    batch = person_batch(0, 0)
    await store.apply_batch(batch)

    again = await store.apply_batch(batch)

    assert (again.applied, again.duplicates) == (0, 2)
    assert await store.offsets() == {0: 2, 1: 0}


async def test_a_batch_past_the_stored_offset_is_refused_whole(store: OutcomePort) -> None:
    await store.apply_batch(person_batch(0, 0))

    with pytest.raises(OffsetMismatch) as refused:
        await store.apply_batch([*person_batch(1, 0), *person_batch(0, 5)])

    assert refused.value.stored == {0: 2, 1: 0}
    assert await store.offsets() == {0: 2, 1: 0}  # partition 1's part was not applied either


async def test_dead_letters_and_rejections_move_the_offsets(store: OutcomePort) -> None:
    stranger = placed(new_pid("never-enrolled"), event_id=uuid.uuid4())

    result = await store.apply_batch([letter(0, 0), at(0, 1, stranger)])

    assert (result.applied, result.dead_lettered, result.rejected) == (0, 1, 1)
    assert await store.offsets() == {0: 2, 1: 0}
