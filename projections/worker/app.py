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
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TP

from refnet.events.kafka_client import MECHANISM, bootstrap, uses_sasl
from refnet.events.logs import dict_config, log_context
from refnet.events.settings import Settings
from refnet.projections.store.outcomes import OffsetMismatch
from refnet.projections.worker.backlog_process import fold_backlog_apart
from refnet.projections.worker.heartbeat import WorkerCounters
from refnet.projections.worker.lag import end_offsets
from refnet.projections.worker.metrics import WorkerMetrics
from refnet.projections.worker.presence import hold_presence
from refnet.projections.worker.projector import Projector, Record
from refnet.projections.worker.runtime import Runtime

log = logging.getLogger(__name__)
EXIT_CRASHED = 70  # EX_SOFTWARE


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
    fold_backlog_apart(settings, counters, loglevel, metrics)
    app = build_app(settings, counters, metrics)
    # In JSON, faust's lines take the same shape; in text it keeps its own.
    config = dict_config("json", loglevel) if settings.log_format == "json" else None
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, logging_config=config)
    worker.execute_from_commandline()
