"""Rebuilding the read model from offset 0 beside the live one, then switching to it in one step.

    prepare   drop what an interrupted rebuild left (`<schema>_next`, `<schema>_retired`),
              create `<schema>_next` with the read-model migrations (the registry, with
              tokens and keys, is shared and never touched)
    fold      the log up to its ends at the start, in memory, with the projection's own
              steps, one part of the log at a time (`LogReplay`: whole partitions, or
              buckets of a long one), so memory stays flat in the log's length
    write     after each part, its rows, rejections and parked dead letters into the new
              schema with COPY, then its states are let go; at the end the offsets, all in
              one transaction, then ANALYZE
    catch up  what was appended meanwhile, applied through the store as the worker does
    switch    one transaction: lock the live offsets (the worker's next batch waits), check
              the new model is at least as far on every partition, rename live to
              `<schema>_retired` and the new schema to the live name, commit
    drop      the retired schema, in a transaction of its own

The worker and the API keep running throughout and name their tables without a
schema (search_path by name), so they answer from the old model until the commit
and from the new one after it. A statement of the worker blocked by the lock is
re-resolved by PostgreSQL once the lock is granted, so its batch lands in the new
model. Until the commit nothing of the live model has changed: an interrupted
rebuild leaves only `<schema>_next`, which the next rebuild drops.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import asyncpg

from refnet.events.settings import Settings
from refnet.projections.audit.log_replay import LogReplay
from refnet.projections.audit.replay import Replay
from refnet.projections.store.counts import recount_all
from refnet.projections.store.database import Conn, StoreError, connect_pool, create_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.store.outcomes import DeadLetter, OutcomeStore
from refnet.projections.store.row_writes import copy_derived, copy_rows
from refnet.projections.store.schema import ALL_TABLES, PROJECTION, READ_OFFSETS_IN
from refnet.projections.worker.log_reader import chunked, log_ends, read_log
from refnet.projections.worker.projector import Record, classify
from refnet.projections.worker.signatures import KeyRing

log = logging.getLogger(__name__)

NEXT_SUFFIX = "_next"
RETIRED_SUFFIX = "_retired"
SWITCH_ATTEMPTS = 3  # the last one catches up under the lock, so the switch always ends
LOCK_TIMEOUT = "5s"  # how long the switch waits for the live offsets (a worker's batch)
DROP_LOCK_TIMEOUT = "200ms"  # a reader of the retired tables is never kept waiting longer
DROP_PATIENCE_SECONDS = 30.0
WRITE_CHUNK = 5_000  # participants derived and copied at a time
_LOCK_CLASS = 0x5EF_0E8  # advisory lock class of rebuilds; the key is the schema's hash

Note = Callable[[str], None]
FoldProgress = Callable[[int, int], None]  # (records folded since the last call, total)
Hook = Callable[[], Awaitable[None]]


class RebuildError(StoreError):
    """The rebuild cannot start or finish; the live read model is unchanged."""


class _Behind(Exception):
    """The live model is further than the new one on some partitions (their live offsets)."""

    def __init__(self, offsets: dict[int, int]) -> None:
        super().__init__(f"partitions {sorted(offsets)}")
        self.offsets = offsets


class _Stopped(Exception):
    """Raised inside the fold's thread once the rebuild was cancelled."""


@dataclass(frozen=True)
class SchemaNames:
    """The live read model's schema and the two a rebuild uses beside it."""

    live: str

    @property
    def next(self) -> str:
        return self.live + NEXT_SUFFIX

    @property
    def retired(self) -> str:
        return self.live + RETIRED_SUFFIX

    def check(self) -> None:
        # PostgreSQL cuts longer names to 63 bytes: the three must stay distinct.
        if len(self.retired) > 63:
            raise RebuildError(f"schema name {self.live} is too long to rebuild beside it")


@dataclass
class RebuildReport:
    """What a rebuild did, filled in as it goes (so an interruption can say where it was)."""

    schema: str
    phase: str = "prepare"
    events: int = 0  # records folded from offset 0
    participants: int = 0
    rejections: int = 0
    dead_letters: int = 0
    fold_rate: float = 0.0  # Replay.rate: records per second of this process's own fold work
    caught_up: int = 0  # records applied after the fold, before the switch
    switch_attempts: int = 0
    locked_seconds: float = 0.0  # how long the live offsets were locked (the worker waited)
    switched: bool = False
    retired_dropped: bool = False
    leftovers: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def _log_note(message: str) -> None:
    log.info("%s", message)


class Rebuild:
    """One rebuild of `settings.read_model_schema`; `run()` does it, `report` tells how far."""

    def __init__(
        self,
        settings: Settings,
        note: Note = _log_note,
        on_progress: FoldProgress | None = None,
        while_locked: Hook | None = None,
    ) -> None:
        self.settings = settings
        self.names = SchemaNames(settings.read_model_schema)
        self.report = RebuildReport(self.names.live)
        self._note = note
        self._on_progress = on_progress
        # Runs inside the switch transaction, renames done but not committed: the
        # window in which the API must still answer from the old model.
        self._while_locked = while_locked

    async def run(self) -> RebuildReport:
        """Rebuild and switch; on any error before the switch, the live model is as it was."""
        self.names.check()
        admin = await create_pool(
            self.settings.database_url, "public", self.settings.registry_schema, max_size=1
        )
        try:
            async with admin.acquire() as conn:
                await self._exclusive(conn)  # held by this session until it closes
                await self._stages(conn)
        finally:
            await admin.close()
        return self.report

    async def _stages(self, conn: Conn) -> None:
        with self._phase("prepare"):
            await self._prepare(conn)
            ends = await asyncio.to_thread(log_ends, self.settings)
            # Loaded after the ends: every event up to them was signed with a key registered by now.
            keys = await KeyRing.load(conn)
        next_settings = self.settings.model_copy(update={"read_model_schema": self.names.next})
        pool = await connect_pool(next_settings, max_size=2)
        try:
            await self._fold_and_write(pool, keys, ends)
            with self._phase("catch_up"):
                self.report.caught_up += await self._catch_up(pool)
            with self._phase("switch"):
                await self._switch(conn, pool)
        finally:
            await pool.close()
        with self._phase("drop"):
            await self._drop_retired(conn)

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        self.report.phase = name
        started = time.perf_counter()
        try:
            yield
        finally:
            self.report.phases[name] = time.perf_counter() - started

    # ------------------------------------------------------------------ prepare

    async def _exclusive(self, conn: Conn) -> None:
        """One rebuild per schema at a time: a second one would drop the first one's work."""
        got = await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", _LOCK_CLASS, self.names.live
        )
        if not got:
            raise RebuildError(f"another rebuild of {self.names.live} is running")

    async def _prepare(self, conn: Conn) -> None:
        for name in (self.names.next, self.names.retired):
            if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", name):
                await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
                self.report.leftovers.append(name)
                self._note(f"dropped schema {name}, left over from an interrupted rebuild")
        registry = self.settings.registry_schema
        # The live model must exist (and be current) for the switch to lock and replace it.
        await migrate(conn, self.names.live, registry)
        await migrate(conn, self.names.next, registry)

    # ------------------------------------------------------------ fold and write

    async def _fold_and_write(
        self, pool: asyncpg.Pool, keys: KeyRing, ends: dict[int, int]
    ) -> None:
        """Fold a part in a thread, write it, let it go, and on to the next; the offsets
        last, all in one transaction (the schema is nobody else's yet). A cancelled
        rebuild stops the fold at its next chunk."""
        stopped = threading.Event()
        total = sum(ends.values())

        def progress(count: int) -> None:
            if stopped.is_set():
                raise _Stopped
            if self._on_progress is not None:
                self._on_progress(count, total)

        if self._on_progress is not None:
            self._on_progress(0, total)
        replay = LogReplay(self.settings, keys, ends, on_progress=progress)
        parts = replay.parts()
        phases = self.report.phases
        phases["fold"] = phases["write"] = 0.0
        try:
            async with pool.acquire() as conn:
                async with conn.transaction():
                    while True:
                        self.report.phase, started = "fold", time.perf_counter()
                        part = await asyncio.to_thread(next, parts, None)
                        phases["fold"] += time.perf_counter() - started
                        if part is None:
                            break
                        self.report.phase, started = "write", time.perf_counter()
                        await self._write_part(conn, replay, part)
                        del part  # its states: the largest thing held
                        phases["write"] += time.perf_counter() - started
                    started = time.perf_counter()
                    await recount_all(conn)
                    await self._store_offsets(conn, replay.ends)
                for table in ALL_TABLES:  # fresh statistics before the API's first query plans
                    await conn.execute(f"ANALYZE {table}")
                phases["write"] += time.perf_counter() - started
        finally:
            stopped.set()
        self.report.events = replay.records
        self.report.participants = replay.participants
        self.report.fold_rate = replay.rate

    async def _write_part(self, conn: Conn, replay: LogReplay, part: Replay) -> None:
        """Everything the fold decided about one part of the log."""
        await conn.copy_records_to_table(
            "participant_state",
            records=((pid, s.to_json()) for pid, s in part.states.items()),
            columns=["participant_id", "facts"],
        )
        for chunk in chunked(part.rows(), WRITE_CHUNK):
            await copy_derived(conn, chunk)
        rejections = replay.stored_rejections(part)
        await copy_rows(conn, rejections)
        await self._park(conn, part.dead_letters)
        self.report.rejections += len(rejections)
        self.report.dead_letters += len(part.dead_letters)

    async def _park(self, conn: Conn, letters: list[DeadLetter]) -> None:
        # The live worker already sent these to the dead-letter topic: only park them.
        await conn.copy_records_to_table(
            "dead_letters",
            records=[
                (
                    self.settings.topic_events,
                    d.position.partition,
                    d.position.offset,
                    d.event_id,
                    d.reason,
                    d.payload,
                )
                for d in letters
            ],
            columns=["topic", "partition", "offset", "event_id", "reason", "payload"],
        )

    async def _store_offsets(self, conn: Conn, ends: Mapping[int, int]) -> None:
        # A row for every partition the worker may own, or its offsets would never move.
        partitions = sorted(set(range(self.settings.topic_partitions)) | set(ends))
        await conn.copy_records_to_table(
            "projection_offsets",
            records=[
                (PROJECTION, self.settings.topic_events, p, ends.get(p, 0)) for p in partitions
            ],
            columns=["projection", "topic", "partition", "next_offset"],
        )

    # ----------------------------------------------------------------- catch up

    async def _catch_up(self, pool: asyncpg.Pool, ends: Mapping[int, int] | None = None) -> int:
        """Apply to the new schema what the log holds past its offsets (up to `ends`); how many."""
        store = OutcomeStore(pool, self.settings.topic_events)
        starts = await store.offsets()
        stop = ends if ends is not None else await asyncio.to_thread(log_ends, self.settings)
        wanted = {p: end for p, end in stop.items() if end > starts.get(p, 0)}
        if not wanted:
            return 0
        records = await asyncio.to_thread(
            lambda: list(read_log(self.settings, wanted, starts=starts))
        )
        async with pool.acquire() as conn:
            keys = await KeyRing.load(conn)  # the worker may know keys registered since the fold
        for chunk in chunked(records, self.settings.batch_size):
            batch = [classify(Record(r.partition, r.offset, r.key, r.value), keys) for r in chunk]
            await store.apply_batch(batch)  # dead letters are parked, not sent again
        return len(records)

    # ------------------------------------------------------------------- switch

    async def _switch(self, conn: Conn, pool: asyncpg.Pool) -> None:
        for attempt in range(1, SWITCH_ATTEMPTS + 1):
            self.report.switch_attempts = attempt
            try:
                await self._switch_once(conn, pool, last=attempt == SWITCH_ATTEMPTS)
                self.report.switched = True
                return
            except _Behind as behind:
                self._note(f"the live model moved on meanwhile ({behind}); catching up again")
                self.report.caught_up += await self._catch_up(pool)
            except asyncpg.LockNotAvailableError:
                if attempt == SWITCH_ATTEMPTS:
                    raise RebuildError(
                        f"{self.names.live}.projection_offsets stayed locked (a session idle in "
                        f"a transaction?); the next rebuild drops {self.names.next}"
                    ) from None
                self._note("the live offsets stayed locked; trying again")

    async def _switch_once(self, conn: Conn, pool: asyncpg.Pool, last: bool) -> None:
        live, new = self.names.live, self.names.next
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            await conn.execute(f'LOCK TABLE "{live}".projection_offsets IN ACCESS EXCLUSIVE MODE')
            locked = time.perf_counter()
            behind = await self._behind(conn)
            if behind and not last:
                raise _Behind(behind)  # rolls back: the worker goes on while we catch up
            if behind:
                # The worker waits meanwhile; the gap is what it applied since the last try.
                self.report.caught_up += await self._catch_up(pool, ends=behind)
                if await self._behind(conn):
                    raise RebuildError(f"{new} could not catch up with {live}")
            await conn.execute(f'ALTER SCHEMA "{live}" RENAME TO "{self.names.retired}"')
            await conn.execute(f'ALTER SCHEMA "{new}" RENAME TO "{live}"')
            if self._while_locked is not None:
                await self._while_locked()
        self.report.locked_seconds = time.perf_counter() - locked

    async def _behind(self, conn: Conn) -> dict[int, int]:
        """Partitions on which the new model is behind the live one, with the live offsets."""
        topic = self.settings.topic_events
        old = await conn.fetch(READ_OFFSETS_IN.format(schema=self.names.live), PROJECTION, topic)
        new = await conn.fetch(READ_OFFSETS_IN.format(schema=self.names.next), PROJECTION, topic)
        ours = {r["partition"]: r["next_offset"] for r in new}
        return {
            r["partition"]: r["next_offset"]
            for r in old
            if ours.get(r["partition"], 0) < r["next_offset"]
        }

    # --------------------------------------------------------------------- drop

    async def _drop_retired(self, conn: Conn) -> None:
        """Drop the old tables once nobody reads them; readers are never kept waiting long.

        A short lock timeout, retried: a transaction that began before the switch
        may still read the retired tables, and must not wait on (or deadlock with) us.
        """
        deadline = time.monotonic() + DROP_PATIENCE_SECONDS
        while True:
            try:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{self.names.retired}" CASCADE')
                self.report.retired_dropped = True
                return
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
                if time.monotonic() > deadline:
                    self._note(f"{self.names.retired} is still in use; the next rebuild drops it")
                    return
                await asyncio.sleep(0.1)  # back off before asking for the locks again


async def rebuild(
    settings: Settings,
    note: Note = _log_note,
    on_progress: FoldProgress | None = None,
) -> RebuildReport:
    """Rebuild the read model of `settings` beside it and switch to it (see the module doc)."""
    return await Rebuild(settings, note, on_progress).run()
