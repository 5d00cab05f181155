"""Restoring an archive into an empty log topic, with its keys in the registry.

The target must be empty (restoring twice would double the log); what lands is
checked against the manifest's end offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from refnet.events.cloudevents import headers_of_value
from refnet.events.publisher import produce, producer_config
from refnet.events.settings import Settings
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.worker.log_reader import log_ends
from refnet.services.archive.format import ArchivedRecord, ArchiveError, Manifest, Progress
from refnet.services.archive.verify import read_archive
from refnet.services.kafka.topics import ensure_topics, high_watermarks
from refnet.services.registry.keys import KeysRestored, restore_keys

# ---------------------------------------------------------------- restoring


async def register_archive_keys(
    settings: Settings, documents: Sequence[Mapping[str, Any]]
) -> KeysRestored:
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            async with conn.transaction():
                return await restore_keys(conn, documents)
    finally:
        await pool.close()


def check_target_empty(settings: Settings, partitions: int) -> bool:
    """True if the event log topic exists (empty, with `partitions`); False if it does not.

    Refuses a topic holding records: restored offsets must start at 0.
    """
    topic = settings.topic_events
    ends = high_watermarks(settings, topic)
    if not ends:
        return False
    held = sum(ends.values())
    if held:
        raise ArchiveError(
            f"topic {topic} already holds {held} records: restore only into a topic that "
            "does not exist or is empty (set REFNET_TOPIC_EVENTS to a new name)"
        )
    if len(ends) != partitions:
        raise ArchiveError(
            f"topic {topic} has {len(ends)} partitions, the archive {partitions}: "
            "delete the empty topic or restore into a new one"
        )
    return True


def create_log_topic(settings: Settings, partitions: int) -> None:
    """Create the event log (and its dead-letter topic) as the stack does: unlimited retention."""
    ensure_topics(settings.model_copy(update={"topic_partitions": partitions}))


@dataclass
class _Deliveries:
    """Delivery reports, each checked to land at the offset the archive gave it."""

    next_offset: dict[int, int]
    on_progress: Progress | None
    delivered: int = 0
    failures: list[str] = field(default_factory=list)

    def report(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failures.append(str(err))
            return
        partition, offset = msg.partition(), msg.offset()
        assert partition is not None and offset is not None
        expected = self.next_offset[partition]
        if offset != expected:
            self.failures.append(
                f"partition {partition}: landed at offset {offset}, not {expected}"
            )
        self.next_offset[partition] = offset + 1
        self.delivered += 1
        if self.on_progress is not None:
            self.on_progress(1)


def restore_producer(settings: Settings) -> Producer:
    # Idempotence keeps order across retries with up to 5 requests in flight per partition.
    return Producer(
        producer_config(settings, **{"max.in.flight.requests.per.connection": 5, "linger.ms": 20})
    )


def produce_archive(
    settings: Settings, folder: Path, manifest: Manifest, on_progress: Progress | None = None
) -> int:
    """Produce every record to its original partition, in offset order, with its timestamp."""
    producer = restore_producer(settings)
    topic = settings.topic_events
    deliveries = _Deliveries(dict.fromkeys(range(manifest.partitions), 0), on_progress)
    for entry in manifest.files:
        for number, record in enumerate(read_archive(folder, entry), start=1):
            _produce(producer, topic, entry.partition, record, deliveries.report)
            if number % 10_000 == 0:
                producer.poll(0)  # serve delivery reports, so progress moves while producing
    left = producer.flush(120)
    failed = deliveries.failures + ([f"{left} records unconfirmed"] if left else [])
    if failed:
        raise ArchiveError(
            f"restore incomplete: {failed[0]} ({len(failed)} problems); {topic} now holds part "
            "of the archive: delete it before restoring again"
        )
    return deliveries.delivered


def _produce(
    producer: Producer,
    topic: str,
    partition: int,
    record: ArchivedRecord,
    report: Callable[[KafkaError | None, Message], None],
) -> None:
    produce(
        producer,
        topic,
        value=record.value,
        key=record.key,
        # Archives hold values, not headers: the value gives the same ones back.
        headers=headers_of_value(record.value) if record.value is not None else [],
        partition=partition,
        timestamp=record.timestamp_ms or 0,  # 0: the broker's clock (no stamp archived)
        on_delivery=report,
    )


@dataclass(frozen=True)
class Restored:
    topic: str
    partitions: int
    records: int
    keys: KeysRestored
    seconds: float


def check_restored_ends(settings: Settings, manifest: Manifest) -> None:
    ends = log_ends(settings)
    wanted = {f.partition: f.end_offset for f in manifest.files}
    for partition, end in sorted(wanted.items()):
        if ends.get(partition) != end:
            raise ArchiveError(
                f"{settings.topic_events}[{partition}] ends at {ends.get(partition)} after the "
                f"restore, the archive at {end}"
            )


def restore_archive(
    settings: Settings,
    folder: Path,
    manifest: Manifest,
    keys: Sequence[Mapping[str, Any]],
    on_progress: Progress | None = None,
) -> Restored:
    """Load a verified archive into an empty event log; register its keys first, so a
    worker already running verifies the restored events."""
    started = time.perf_counter()
    if not check_target_empty(settings, manifest.partitions):
        create_log_topic(settings, manifest.partitions)
    restored_keys = asyncio.run(register_archive_keys(settings, keys))
    records = produce_archive(settings, folder, manifest, on_progress)
    check_restored_ends(settings, manifest)
    seconds = time.perf_counter() - started
    return Restored(settings.topic_events, manifest.partitions, records, restored_keys, seconds)
