"""The faust app that drives the outcome projection from the shared log.

One agent with concurrency 1 reads every assigned partition (faust-streaming
#606: concurrency > 1 commits offsets past work still in flight). faust's
Kafka commits are not trusted: on every assignment the consumer seeks to the
offsets stored in PostgreSQL with the state, and `GapGuard` seeks back if faust
jumps ahead. The store checks every batch against the stored offsets inside
its transaction; a batch it refuses (PostgreSQL lost commits in a crash, the
read model was reset under the worker) makes the worker seek to the offsets it
read from PostgreSQL, counted and reported by the heartbeat. An agent that
raises would still have its messages acked, so any unexpected error ends the
process at once; the next start resumes from the stored offsets. No faust
tables are used, so table recovery (#596) cannot stall commits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import asyncpg
import faust
from faust.types import TP

from refnet.events.kafka_client import MECHANISM, bootstrap, uses_sasl
from refnet.events.logs import dict_config, log_context
from refnet.events.settings import Settings
from refnet.projections.store.database import StoreUnavailable, connect_pool, is_transient
from refnet.projections.store.migrate import migrate
from refnet.projections.store.outcomes import DeadLetter, OffsetMismatch, OutcomeStore
from refnet.projections.store.rederive import rederive_if_older
from refnet.projections.store.states import StateCache
from refnet.projections.worker.backlog_process import fold_backlog_apart
from refnet.projections.worker.gaps import GapGuard
from refnet.projections.worker.heartbeat import HEARTBEAT_SECONDS, WorkerCounters
from refnet.projections.worker.lag import end_offsets
from refnet.projections.worker.metrics import WorkerMetrics
from refnet.projections.worker.presence import hold_presence
from refnet.projections.worker.projector import Projector, Record
from refnet.projections.worker.signatures import KeyRing

log = logging.getLogger(__name__)
EXIT_CRASHED = 70  # EX_SOFTWARE
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


def _datadir(settings: Settings) -> Path:
    """faust's own directory (one per consumer group), under the data dir; its parent made."""
    parent = settings.data_dir / "worker-data"
    parent.mkdir(parents=True, exist_ok=True)
    return parent / settings.consumer_group


def build_app(
    settings: Settings,
    counters: WorkerCounters | None = None,
    metrics: WorkerMetrics | None = None,
) -> faust.App:
    """A faust app for the outcome projection; nothing connects until it starts."""
    credentials = None
    if uses_sasl(settings):
        credentials = faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=MECHANISM,
        )
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{bootstrap(settings)}",
        broker_credentials=credentials,
        store="memory://",
        # faust makes its data directory even with memory tables: keep it out of the cwd.
        datadir=str(_datadir(settings)),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_acks=-1,
        stream_buffer_maxsize=max(4096, settings.batch_size * 2),
        broker_max_poll_records=max(1000, settings.batch_size),
    )
    events = app.topic(settings.topic_events, key_type=bytes, value_type=bytes, internal=False)
    dead = app.topic(settings.topic_dead_letter, key_type=bytes, value_type=bytes, internal=False)
    runtime = Runtime(
        settings,
        dead,
        counters or WorkerCounters(settings.consumer_group),
        metrics or WorkerMetrics(),
    )

    async def seek(offsets: dict[int, int]) -> None:
        await _seek(app, {TP(settings.topic_events, p): o for p, o in offsets.items()})

    runtime.seek = seek

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stub is sync-only
    async def seek_to_stored(sender: Any, assigned: set[TP], **_: Any) -> None:
        mine = [tp for tp in assigned if tp.topic == settings.topic_events]
        store, _projector = await runtime.ready()
        stored = await runtime.patiently("reading the stored offsets", store.offsets)
        ends = await asyncio.to_thread(end_offsets, settings)
        ahead = [
            tp.partition for tp in mine if stored.get(tp.partition, 0) > ends.get(tp.partition, 0)
        ]
        if ahead:
            # The log is shorter than what the read model applied: new events at
            # those offsets would be skipped as redeliveries. Refuse, loudly.
            log.critical(
                "read model is ahead of %s on partitions %s (was the topic recreated?); "
                "run `refnet projections reset` and start again",
                settings.topic_events,
                ahead,
            )
            logging.shutdown()
            os._exit(EXIT_CRASHED)
        if store.cache is not None:  # another worker may have owned these partitions meanwhile
            store.cache.clear()
        runtime.guard.reset({tp.partition: stored.get(tp.partition, 0) for tp in mine})
        runtime.counters.partitions = sorted(tp.partition for tp in mine)
        runtime.committed = {tp.partition: stored.get(tp.partition, 0) for tp in mine}
        await _seek(app, {tp: stored.get(tp.partition, 0) for tp in mine})
        log.info("assigned %s; resuming from stored offsets", sorted(tp.partition for tp in mine))

    @app.agent(events, concurrency=1)
    async def project(stream: faust.StreamT[bytes]) -> None:
        _store, projector = await runtime.ready()
        take = stream.take_events  # type: ignore[attr-defined]  # missing from faust's StreamT
        async for batch in take(settings.batch_size, within=settings.batch_within):
            try:
                await _project_batch(app, runtime, projector, batch)
            except Exception:
                log.critical("projection failed; stopping so the next start resumes", exc_info=True)
                logging.shutdown()
                os._exit(EXIT_CRASHED)  # no faust shutdown: nothing more is acked or committed

    return app


async def _project_batch(
    app: faust.App, runtime: Runtime, projector: Projector, batch: list[Any]
) -> None:
    records = [
        Record(e.message.partition, e.message.offset, e.message.key, e.message.value)
        for e in batch
        if e.message.topic == runtime.settings.topic_events
    ]
    keep, seek = runtime.guard.check(records)
    for partition, offset in seek.items():
        log.warning("partition %s jumped past stored offset %s; seeking back", partition, offset)
    if seek:
        await _seek(app, {TP(runtime.settings.topic_events, p): o for p, o in seek.items()})
    if not keep:
        return
    started = time.perf_counter()
    try:
        with log_context(offsets=_span(keep)):
            result = await projector.project(keep)
    except OffsetMismatch as refused:
        # Nothing of the batch was applied; go back to what PostgreSQL holds.
        await runtime.rewind(refused.stored, f"refused batch: {refused}")
        return
    runtime.applied(keep)
    runtime.counters.progressed(result.applied)
    runtime.metrics.batch(result, time.perf_counter() - started)


def _span(records: Sequence[Record]) -> str:
    """`partition:first-last` per partition of a batch, for its log lines."""
    spans: dict[int, tuple[int, int]] = {}
    for r in records:
        first, last = spans.get(r.partition, (r.offset, r.offset))
        spans[r.partition] = (min(first, r.offset), max(last, r.offset))
    return ",".join(f"{p}:{a}-{b}" for p, (a, b) in sorted(spans.items()))


async def _seek(app: faust.App, offsets: dict[TP, int]) -> None:
    """Seek in the consumer's own thread and wait until the positions took effect.

    faust's `Consumer.seek` calls aiokafka from the app's loop while aiokafka runs
    in a thread of its own, and such a seek can be lost; `seek_wait` is the
    thread-safe path and also resets faust's read offsets for these partitions.
    """
    if offsets:
        await cast(Any, app.consumer)._thread.seek_wait(offsets)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the projection worker until interrupted (blocks): a backlog first in bulk, then
    the live stream."""
    hold_presence(settings)  # seen by `projections reset` from the start, before faust joins
    counters = WorkerCounters(settings.consumer_group)  # one heartbeat row for both phases
    metrics = WorkerMetrics()
    metrics.serve(settings.worker_metrics_port, settings.worker_metrics_host)
    fold_backlog_apart(settings, counters, loglevel)
    metrics.events.labels("applied").inc(counters.applied)  # what the bulk fold applied
    metrics.batches.inc(counters.batches)
    app = build_app(settings, counters, metrics)
    # In JSON, faust's lines take the same shape; in text it keeps its own.
    config = dict_config("json", loglevel) if settings.log_format == "json" else None
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, logging_config=config)
    worker.execute_from_commandline()
