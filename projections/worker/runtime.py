"""The live worker's runtime: its pool, store, projector, heartbeat and metrics, made once.

The faust app (`app.py`) hands every batch and every assignment to it. It
waits for PostgreSQL instead of failing (`patiently`), seeks back when the
stored offsets went below what this worker committed (a reset, or commits lost
in a crash), and keeps the lag per owned partition on the metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
import faust

from refnet.events.settings import Settings
from refnet.projections.store.database import StoreUnavailable, connect_pool, is_transient
from refnet.projections.store.migrate import migrate
from refnet.projections.store.outcomes import DeadLetter, OutcomeStore
from refnet.projections.store.rederive import rederive_if_older
from refnet.projections.store.states import StateCache
from refnet.projections.worker.gaps import GapGuard
from refnet.projections.worker.heartbeat import HEARTBEAT_SECONDS, WorkerCounters
from refnet.projections.worker.lag import end_offsets
from refnet.projections.worker.metrics import WorkerMetrics
from refnet.projections.worker.projector import Projector, Record
from refnet.projections.worker.signatures import KeyRing

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """The worker's pool, store and projector, made once on first use."""

    def __init__(
        self,
        settings: Settings,
        dead_letters: faust.TopicT,
        counters: WorkerCounters,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._dead_letter_topic = dead_letters
        self._lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None
        self._projector: Projector | None = None
        self.store: OutcomeStore | None = None
        self.guard = GapGuard()
        self.counters = counters
        self._heartbeat: asyncio.Task[None] | None = None
        # The next offset per owned partition as of this worker's last commit:
        # stored offsets below it mean PostgreSQL lost commits or was reset.
        self.committed: dict[int, int] = {}
        self.seek: Callable[[dict[int, int]], Awaitable[None]] | None = None

    async def patiently(self, what: str, step: Callable[[], Awaitable[T]]) -> T:
        """`step()` once PostgreSQL answers: a worker started, or assigned partitions,
        while the database is down waits for it instead of failing."""
        delay = 0.2
        while True:
            try:
                return await step()
            except Exception as exc:
                if not (isinstance(exc, StoreUnavailable) or is_transient(exc)):
                    raise
                self.unavailable(str(exc))
                log.warning("%s: PostgreSQL unavailable, retrying in %.1fs: %s", what, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def ready(self) -> tuple[OutcomeStore, Projector]:
        async with self._lock:
            if self.store is None or self._projector is None:
                settings = self.settings
                relaxed = not settings.projection_synchronous_commit
                if self._pool is None:
                    self._pool = await self.patiently(
                        "connecting", lambda: connect_pool(settings, relaxed_commit=relaxed)
                    )
                pool = self._pool
                cache = StateCache(settings.projection_state_cache)
                store = OutcomeStore(pool, settings.topic_events, cache=cache)

                async def prepare() -> None:
                    async with pool.acquire() as conn:
                        await migrate(conn, settings.read_model_schema, settings.registry_schema)
                        await rederive_if_older(conn)
                    await store.ensure_partitions(self.settings.topic_partitions)

                await self.patiently("preparing the read model", prepare)
                self.store = store
                self._projector = Projector(
                    self.store,
                    self._send_dead_letter,
                    self._load_keys,
                    on_unavailable=self.unavailable,
                )
                self._heartbeat = asyncio.create_task(self._beat_forever())
            return self.store, self._projector

    def unavailable(self, error: str) -> None:
        """PostgreSQL did not answer; the step is retried."""
        self.counters.failed(error)
        self.metrics.database_retries.inc()

    async def _show_lag(self) -> None:
        owned = {p: o for p, o in self.committed.items() if p in self.counters.partitions}
        ends = await asyncio.to_thread(end_offsets, self.settings)
        self.metrics.show_lag(ends, owned)

    async def _beat_forever(self) -> None:
        assert self._pool is not None
        while True:
            try:
                async with self._pool.acquire(timeout=HEARTBEAT_SECONDS) as conn:
                    await self.counters.beat(conn)
                await self._check_offsets()
            except Exception as exc:  # the database is down: the batch retry reports it
                log.debug("heartbeat not written: %s", exc)
            try:
                await self._show_lag()
            except Exception as exc:  # the broker is down: the lag stays as last seen
                log.debug("lag not read: %s", exc)
            stuck = self.counters.stuck_seconds
            if stuck > self.settings.worker_stall_seconds:
                log.error(
                    "no progress for %.0f s (refused batches: %d; last error: %s)",
                    stuck,
                    self.counters.refused_batches,
                    self.counters.last_error or self.counters.last_refusal,
                )
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _check_offsets(self) -> None:
        """Seek back where the stored offsets went below this worker's last commit.

        A batch would be refused there anyway, but a partition that receives
        nothing new sends no batch: a reset or a crash must not leave it unread.
        """
        assert self.store is not None
        before = dict(self.committed)  # taken before the read: a commit meanwhile only raises it
        stored = await self.store.offsets()
        back = {p: stored.get(p, 0) for p, o in before.items() if stored.get(p, 0) < o}
        if back:
            where = ", ".join(f"partition {p} at {back[p]}, not {before[p]}" for p in sorted(back))
            await self.rewind(back, f"stored offsets went back (a reset, or commits lost): {where}")

    async def rewind(self, stored: dict[int, int], reason: str) -> None:
        """Expect and read the owned partitions of `stored` from those offsets again."""
        self.counters.refused(reason)
        self.metrics.refused_batches.inc()
        log.warning(
            "seeking back to the stored offsets (%d so far): %s",
            self.counters.refused_batches,
            reason,
        )
        owned = {p: o for p, o in stored.items() if p in self.counters.partitions}
        self.guard.rewind(owned)
        self.committed.update(owned)
        assert self.seek is not None
        await self.seek(owned)

    def applied(self, records: Sequence[Record]) -> None:
        """`records` were committed (or were redeliveries): raise the committed offsets."""
        for r in records:
            self.committed[r.partition] = max(self.committed.get(r.partition, 0), r.offset + 1)

    async def _load_keys(self) -> KeyRing:
        pool = self._pool
        assert pool is not None

        async def load() -> KeyRing:
            async with pool.acquire() as conn:
                return await KeyRing.load(conn)

        ring = await self.patiently("loading signing keys", load)
        log.info("loaded %d signing keys", len(ring))
        return ring

    async def _send_dead_letter(self, letter: DeadLetter) -> None:
        key, value, headers = letter.record(self.settings.topic_events)
        fut = await self._dead_letter_topic.send(key=key, value=value, headers=headers)
        await fut  # confirmed before the offset may move past the event

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
