"""`refnet projections rebuild`: a fresh read model from offset 0, switched to without downtime.

Each test projects a history with a real worker, then rebuilds while that
worker keeps running: the rebuilt model must equal what the log determines,
the API must answer every request from a complete model across the switch, and
nothing published during or after the rebuild may be lost.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest

from refnet.events.catalogue import EventModel
from refnet.projections.audit import rebuild as rebuild_module
from refnet.projections.audit.rebuild import Rebuild
from refnet.projections.store.database import create_pool
from refnet.services.localstack.process import settings_env
from refnet.services.registry.tokens import issue_token
from tests.integration.world import (
    World,
    enrolled,
    history,
    new_pid,
    placed,
    run_sync,
    served_api,
)

pytestmark = pytest.mark.integration

PARTICIPANTS = 300
PLACED = len(range(0, PARTICIPANTS, 3)) - len(range(0, PARTICIPANTS, 30))
MIN_ANSWERS_IN_SWITCH = 20
"""Answers the API must give while the switch holds its lock, before the renames commit."""
_DEAD_LETTERS = 'SELECT topic, partition, "offset", event_id, reason, payload FROM dead_letters'
_SCHEMA_OID = "SELECT oid FROM pg_namespace WHERE nspname = $1"
_WAITING = "SELECT count(*) > 0 FROM pg_locks WHERE NOT granted AND relation = $1::regclass"


# ------------------------------------------------------------------------------ helpers


@pytest.fixture
def projected(world: World) -> Iterator[World]:
    """A world whose running worker has applied a history with rejections and dead letters."""
    events: list[EventModel] = list(history(PARTICIPANTS, new_pid("h")))
    events.append(placed(new_pid("stranger")))  # not enrolled: a rejection
    world.publish(events)
    world.publish_unsigned([enrolled(new_pid("unsigned"))])  # a dead letter
    world.publish_raw(b"garbage", b"not an event")  # another
    world.start_worker()
    run_sync(world.wait())
    yield world
    run_sync(_drop_rebuild_schemas(world))


async def _drop_rebuild_schemas(world: World) -> None:
    live = world.settings.read_model_schema
    async with world.connection() as conn:
        for name in (f"{live}_next", f"{live}_retired"):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def schema_oid(world: World, name: str) -> int | None:
    async with world.connection() as conn:
        oid: int | None = await conn.fetchval(_SCHEMA_OID, name)
        return oid


def new_participants(count: int, tag: str) -> list[EventModel]:
    """`count` new participants, each enrolled and placed."""
    events: list[EventModel] = []
    for _ in range(count):
        pid = new_pid(tag)
        events += [enrolled(pid), placed(pid)]
    return events


def assert_worker_alive(world: World) -> None:
    worker = world.workers[0]
    log = (world.log_dir / "worker-0.log").read_text()
    assert worker.poll() is None, f"the worker exited with {worker.returncode}:\n{log}"
    assert "projection failed" not in log


# ----------------------------------------------------------------------------- the API


@dataclass
class Api:
    base_url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def api(projected: World) -> Iterator[Api]:
    """`refnet serve` in a process of its own, on the projected world, with a coordinator token."""
    token = run_sync(_coordinator_token(projected))
    with served_api(projected, projected.log_dir / "api.log") as base_url:
        yield Api(base_url, token)


async def _coordinator_token(world: World) -> str:
    async with world.connection() as conn:
        return (await issue_token(cast(asyncpg.Connection, conn), "coordinator")).token


@dataclass
class Answer:
    started: float
    ended: float
    status: int
    body: Any


@dataclass
class Poller:
    """Clients asking for the network outcomes in a loop until stopped."""

    api: Api
    answers: list[Answer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self, clients: int) -> None:
        async with httpx.AsyncClient(base_url=self.api.base_url, timeout=60) as http:
            await asyncio.gather(*(self._loop(http) for _ in range(clients)))

    async def _loop(self, http: httpx.AsyncClient) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            response = await http.get("/v1/network/outcomes", headers=self.api.headers)
            answer = Answer(started, time.monotonic(), response.status_code, response.json())
            async with self.answered:
                self.answers.append(answer)
                self.answered.notify_all()

    async def wait_for(self, count: int) -> None:
        """Until `count` more answers have come back."""
        async with self.answered:
            target = len(self.answers) + count
            await self.answered.wait_for(lambda: len(self.answers) >= target)


# -------------------------------------------------------------------------------- tests


async def test_a_rebuild_reproduces_the_model_under_the_live_name(
    projected: World, tmp_path: Path
) -> None:
    live = projected.settings.read_model_schema
    before = await projected.dump()
    letters_before = sorted(await projected.fetch(_DEAD_LETTERS))
    assert len(before["participants"]) == PARTICIPANTS
    assert len(before["rejections"]) == 1 and len(letters_before) == 2
    old_oid = await schema_oid(projected, live)

    argv = [sys.executable, "-m", "refnet.services.cli.main", "projections", "rebuild", "--yes"]
    env = settings_env(projected.settings) | {"PYTHONUNBUFFERED": "1"}
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rebuilt {live}" in done.stdout
    assert await projected.dump() == before
    assert sorted(await projected.fetch(_DEAD_LETTERS)) == letters_before
    new_oid = await schema_oid(projected, live)
    assert new_oid is not None and new_oid != old_oid  # the live name is the new schema's
    async with projected.connection() as conn:
        left = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE oid = $1 OR nspname = ANY($2::text[])",
            old_oid,
            [f"{live}_next", f"{live}_retired"],
        )
    assert left == []  # the old schema is gone, and nothing of the rebuild is left
    assert_worker_alive(projected)


async def test_the_api_answers_complete_counts_throughout_the_switch(
    projected: World, api: Api
) -> None:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as http:
        first = await http.get("/v1/network/outcomes", headers=api.headers)
    assert first.status_code == 200, first.text
    expected = first.json()
    assert expected["participants"] == PARTICIPANTS
    assert expected["placed"]["total"] == PLACED

    poller = Poller(api)
    polling = asyncio.create_task(poller.run(clients=4))
    window: dict[str, float] = {}

    async def while_locked() -> None:
        # The switch holds the live offsets and has renamed, uncommitted: keep it
        # there until the API has answered this many requests.
        window["locked"] = time.monotonic()
        await asyncio.wait_for(poller.wait_for(MIN_ANSWERS_IN_SWITCH), timeout=60)

    try:
        await poller.wait_for(10)  # answering before the rebuild starts
        report = await Rebuild(projected.settings, while_locked=while_locked).run()
        window["done"] = time.monotonic()
        await poller.wait_for(10)  # and after it
    finally:
        poller.stop.set()
        await polling

    assert report.switched and report.retired_dropped
    wrong = [(a.status, a.body) for a in poller.answers if (a.status, a.body) != (200, expected)]
    assert wrong == [], f"{len(wrong)} of {len(poller.answers)} answers were not the counts"
    in_switch = [
        a for a in poller.answers if a.ended >= window["locked"] and a.started <= window["done"]
    ]
    assert len(in_switch) >= MIN_ANSWERS_IN_SWITCH
    assert any(a.started > window["done"] for a in poller.answers)  # answered from the new model
    assert_worker_alive(projected)


async def test_nothing_published_during_or_after_a_rebuild_is_lost(projected: World) -> None:
    published = Publishing(projected)
    published.start()

    def while_folding(count: int, total: int) -> None:
        if count == 0:  # the fold's ends are fixed: these come after them
            published.now(new_participants(20, "during-fold"))

    async def while_locked() -> None:
        # The worker's next batch waits on the lock: these are applied after the switch.
        await asyncio.to_thread(published.now, new_participants(20, "during-switch"))
        await asyncio.wait_for(a_session_waits_for_the_offsets(projected), timeout=60)

    rebuild = Rebuild(projected.settings, on_progress=while_folding, while_locked=while_locked)
    try:
        report = await rebuild.run()
    finally:
        published.stop()
    assert report.switched
    assert report.caught_up >= 40  # what came after the fold's ends, applied by the catch-up
    assert report.events < projected.log_size()

    published.now(new_participants(20, "after"))  # the worker goes on in the new model
    await projected.wait()

    outcomes = await projected.outcomes()
    assert outcomes.participants == PARTICIPANTS + published.participants
    assert outcomes.placed.total == PLACED + published.participants
    assert_worker_alive(projected)
    await assert_equals_a_model_built_from_scratch(projected)


@pytest.mark.parametrize(("attempts", "switched_on"), [(3, 2), (1, 1)])
async def test_a_live_model_ahead_at_the_switch_is_caught_up_first(
    projected: World, monkeypatch: pytest.MonkeyPatch, attempts: int, switched_on: int
) -> None:
    """The worker applies events after the catch-up: the switch finds the new model behind.

    With attempts left it rolls back and catches up again; on its last attempt it
    catches up while holding the lock (the worker waits), so a busy log cannot
    keep the switch from ever happening.
    """
    ahead = new_participants(20, "ahead")
    catch_up = Rebuild._catch_up

    async def then_the_worker_moves_on(self: Rebuild, *args: Any, **kwargs: Any) -> int:
        applied = await catch_up(self, *args, **kwargs)
        if self.report.phase == "catch_up":
            projected.publish(ahead)
            await projected.wait()  # the live model now holds events the new one lacks
        return applied

    monkeypatch.setattr(rebuild_module, "SWITCH_ATTEMPTS", attempts)
    monkeypatch.setattr(Rebuild, "_catch_up", then_the_worker_moves_on)
    report = await Rebuild(projected.settings).run()

    assert report.switched and report.switch_attempts == switched_on
    assert report.caught_up == len(ahead)
    assert (await projected.outcomes()).participants == PARTICIPANTS + len(ahead) // 2
    assert_worker_alive(projected)
    await assert_equals_a_model_built_from_scratch(projected)


async def a_session_waits_for_the_offsets(world: World) -> None:
    """Until some session (the worker's batch) waits for a lock on the live offsets."""
    table = f'"{world.settings.read_model_schema}".projection_offsets'
    pool = await create_pool(world.settings.database_url, "public", max_size=1)
    try:
        async with pool.acquire() as conn:
            while not await conn.fetchval(_WAITING, table):
                await asyncio.sleep(0.05)  # polling a condition
    finally:
        await pool.close()


async def assert_equals_a_model_built_from_scratch(world: World) -> None:
    scratch = world.sibling()
    try:
        scratch.start_worker()
        await scratch.wait()
        assert await world.dump() == await scratch.dump()
    finally:
        scratch.stop_all()
        async with world.connection() as conn:
            await conn.execute(
                f'DROP SCHEMA IF EXISTS "{scratch.settings.read_model_schema}" CASCADE'
            )


class Publishing:
    """A partner publishing new participants in small batches, in a thread, until stopped."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.participants = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def now(self, events: list[EventModel]) -> None:
        """Publish `events` (pairs of enrolled and placed) and count their participants."""
        assert self.world.publish(events) == len(events)
        with self._lock:
            self.participants += len(events) // 2

    def _run(self) -> None:
        while not self._stop.is_set():
            self.now(new_participants(5, "meanwhile"))
