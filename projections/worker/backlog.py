"""Folding a backlog in bulk before the live stream takes over.

A worker that starts far behind the log (a rebuild from empty, a restart after
a long stop, a new read model) reads the partitions that are behind with
confluent-kafka straight from the offsets stored in PostgreSQL, with no
consumer group and no faust stream, in large chunks, and applies each chunk
through the same store: one transaction with the offsets, the same continuity
check, the same state cache. Then faust joins the group and, as on every
assignment, seeks to the stored offsets for the live tail. The exactly-once
effect never rested on who reads, only on that transaction, so it holds across
the switch both ways; a kill mid-chunk rolls the chunk back and the next start
resumes from the stored offsets.

Reading and classifying (decode, validate, check the signature) the next chunk
runs in a thread while the current one is written. Each partition is claimed
with a PostgreSQL advisory lock, so workers that start together share the
backlog instead of folding it twice.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
import zlib
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
from confluent_kafka import Producer

from refnet.events.kafka_client import client_config
from refnet.events.settings import Settings
from refnet.projections.store.database import Conn, connect_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.store.outcomes import (
    BatchResult,
    DeadLetter,
    Incoming,
    OffsetMismatch,
    OutcomeStore,
)
from refnet.projections.store.rederive import rederive_if_older
from refnet.projections.store.states import StateCache
from refnet.projections.worker.heartbeat import HEARTBEAT_SECONDS, WorkerCounters
from refnet.projections.worker.lag import end_offsets
from refnet.projections.worker.log_reader import chunked, read_log
from refnet.projections.worker.projector import (
    Projector,
    Record,
    classify,
    classifying_processes,
)
from refnet.projections.worker.signatures import KeyRing

log = logging.getLogger(__name__)

_LOCK_CLASS = 0x5EF_0C4  # advisory lock class of backlog claims; the key names the partition
_ROUNDS = 5  # reads to the end at most: a log that grows faster is left to the live stream
Chunk = tuple[list[Record], list[Incoming]]
OnChunk = Callable[[BatchResult, float, dict[int, int]], None]
"""Told of each chunk written: its result, its seconds, and the lag left per partition."""


@dataclass
class BacklogReport:
    """What a bulk fold did, for the log line and the benchmarks."""

    partitions: list[int]
    events: int = 0
    applied: int = 0
    chunks: int = 0
    refused: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _claim_key(settings: Settings, partition: int) -> int:
    """A stable int4 naming one partition of one read model (Python's hash is per process)."""
    name = f"{settings.read_model_schema}/{settings.topic_events}/{partition}"
    return zlib.crc32(name.encode()) & 0x7FFF_FFFF


async def _claim(conn: Conn, settings: Settings, partitions: list[int]) -> list[int]:
    """The partitions of `partitions` no other starting worker is folding; held until `conn`
    closes."""
    claimed = []
    for p in partitions:
        if await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, $2)", _LOCK_CLASS, _claim_key(settings, p)
        ):
            claimed.append(p)
    return claimed


class _DeadLetters:
    """The dead-letter topic through confluent-kafka: faust's producer is not up yet."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topic_dead_letter
        self._events = settings.topic_events
        self._producer = Producer(
            client_config(settings) | {"acks": "all", "enable.idempotence": True}
        )

    async def send(self, letter: DeadLetter) -> None:
        key, value, headers = letter.record(self._events)
        named: dict[str, str | bytes | None] = dict(headers)
        self._producer.produce(self._topic, key=key, value=value, headers=named)
        # Confirmed before the offset may move past the event, as in the live worker.
        left = await asyncio.to_thread(self._producer.flush, 30.0)
        if left:
            raise RuntimeError(f"dead letter for {key.decode()} not confirmed by the broker")


# ------------------------------------------------------------- classifying in processes

_PART = 2_000  # records per task handed to a classifying process
_process_keys: KeyRing | None = None
RecordTuple = tuple[int, int, bytes | None, bytes | None]  # cheap to pickle


def _start_process(documents: list[dict[str, Any]]) -> None:
    global _process_keys
    _process_keys = KeyRing.from_documents(documents)
    # A worker killed or stopped must not leave its classifying processes behind.
    threading.Thread(target=_end_with_parent, args=(os.getppid(),), daemon=True).start()


def _end_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _classify_part(records: list[RecordTuple]) -> list[Incoming]:
    assert _process_keys is not None, "classifying process started without keys"
    return [classify(Record(*r), _process_keys) for r in records]


class _Classifier:
    """Decode, validate and check signatures: in processes when there are cores to spare
    (it is most of a record's cost, and needs no order), else in the calling thread."""

    def __init__(self, keys: KeyRing, processes: int) -> None:
        self._keys = keys
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0 and keys.documents is not None:
            # forkserver: a fork of this process (its threads, its client libraries' locks)
            # could start a child holding a lock nobody will release.
            self._pool = ProcessPoolExecutor(
                processes,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_process,
                initargs=(keys.documents,),
            )

    def __call__(self, records: list[Record]) -> list[Incoming]:
        if self._pool is None:
            return [classify(r, self._keys) for r in records]
        parts = [
            self._pool.submit(_classify_part, [(r.partition, r.offset, r.key, r.value) for r in c])
            for c in chunked(records, _PART)
        ]
        return [verdict for part in parts for verdict in part.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def _chunks(
    settings: Settings,
    starts: dict[int, int],
    ends: dict[int, int],
    classifier: _Classifier,
) -> Generator[Chunk, None, None]:
    """The log from `starts` to `ends` in chunks, each record beside its verdict."""
    for records in chunked(read_log(settings, ends, starts=starts), settings.catchup_batch_size):
        yield records, classifier(records)


async def fold_backlog(
    settings: Settings, counters: WorkerCounters, on_chunk: OnChunk | None = None
) -> BacklogReport | None:
    """Fold what the log holds beyond the stored offsets in bulk, if it is worth it,
    telling `on_chunk` of each chunk (for the worker's metrics).

    Returns None when the backlog is below `catchup_min_lag` (the live stream takes it).
    """
    pool = await connect_pool(settings, relaxed_commit=not settings.projection_synchronous_commit)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            await rederive_if_older(conn)
        store = OutcomeStore(
            pool, settings.topic_events, cache=StateCache(settings.projection_state_cache)
        )
        await store.ensure_partitions(settings.topic_partitions)
        behind = await _behind(store, settings)
        if sum(behind.values()) < max(settings.catchup_min_lag, 1):
            return None
        async with pool.acquire() as claims:
            mine = await _claim(claims, settings, sorted(behind))
            if not mine:
                return None
            report = BacklogReport(mine)
            counters.partitions = mine
            beating = asyncio.create_task(_beat(pool, counters))
            try:
                await _fold(settings, store, pool, counters, report, on_chunk)
            finally:
                beating.cancel()
            return report
    finally:
        await pool.close()


async def _behind(store: OutcomeStore, settings: Settings) -> dict[int, int]:
    stored = await store.offsets()
    ends = await asyncio.to_thread(end_offsets, settings)
    return {p: end - stored.get(p, 0) for p, end in ends.items() if end > stored.get(p, 0)}


async def _beat(pool: asyncpg.Pool, counters: WorkerCounters) -> None:
    """The heartbeat while folding, so `stack status` shows the worker at work."""
    while True:
        try:
            async with pool.acquire(timeout=HEARTBEAT_SECONDS) as conn:
                await counters.beat(conn)
        except Exception as exc:  # the fold's own retries report a database that is down
            log.debug("heartbeat not written: %s", exc)
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def _fold(
    settings: Settings,
    store: OutcomeStore,
    pool: asyncpg.Pool,
    counters: WorkerCounters,
    report: BacklogReport,
    on_chunk: OnChunk | None,
) -> None:
    letters = _DeadLetters(settings)

    async def load_keys() -> KeyRing:
        async with pool.acquire() as conn:
            return await KeyRing.load(conn)

    projector = Projector(store, letters.send, load_keys, on_unavailable=counters.failed)
    await projector.load_keys()
    started = time.perf_counter()
    for _round in range(_ROUNDS):
        stored = await store.offsets()
        ends = await asyncio.to_thread(end_offsets, settings)
        starts = {p: stored.get(p, 0) for p in report.partitions}
        todo = {p: ends.get(p, 0) for p in report.partitions if ends.get(p, 0) > starts[p]}
        backlog = sum(todo[p] - starts[p] for p in todo)
        if backlog < max(settings.catchup_min_lag, 1):
            break
        log.info("folding a backlog of %d events on partitions %s in bulk", backlog, sorted(todo))
        await _read_to(settings, starts, todo, projector, counters, report, on_chunk)
    report.seconds = time.perf_counter() - started
    log.info(
        "backlog folded: %d events in %.1f s (%.0f ev/s), %d chunks, %d refused",
        report.events,
        report.seconds,
        report.rate,
        report.chunks,
        report.refused,
    )


async def _read_to(
    settings: Settings,
    starts: dict[int, int],
    ends: dict[int, int],
    projector: Projector,
    counters: WorkerCounters,
    report: BacklogReport,
    on_chunk: OnChunk | None = None,
) -> None:
    """Apply the log from `starts` to `ends`, the next chunk read while one is written."""
    position = {p: starts[p] for p in ends}
    keys = projector.keys
    assert keys is not None
    classifier = _Classifier(keys, classifying_processes())
    chunks = _chunks(settings, {p: starts[p] for p in ends}, ends, classifier)
    ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
    try:
        while (chunk := await ahead) is not None:
            ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            records, verdicts = chunk
            began = time.perf_counter()
            try:
                result = await projector.project(records, verdicts)
            except OffsetMismatch as refused:
                # Another worker (or a reset) moved these offsets: read again from the
                # stored ones in the next round.
                counters.refused(f"refused chunk: {refused}")
                report.refused += 1
                return
            report.events += len(records)
            report.applied += result.applied
            report.chunks += 1
            counters.progressed(result.applied)
            if on_chunk is not None:
                for record in records:
                    position[record.partition] = max(position[record.partition], record.offset + 1)
                lag = {p: max(0, ends[p] - position[p]) for p in ends}
                on_chunk(result, time.perf_counter() - began, lag)
    finally:
        await asyncio.gather(ahead, return_exceptions=True)
        chunks.close()
        classifier.close()
