"""Reading the event log from the start with confluent-kafka, without a consumer group.

Audit replays, integrity checks, archives and rebuilds all read the log the
same way: every partition from its first offset up to an end fixed when the
read starts (by default the high watermarks then), so a read is a snapshot of
the log even while partners keep publishing. Nothing here touches PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from refnet.events.errors import RefNetError
from refnet.events.kafka_client import client_config
from refnet.events.settings import Settings

log = logging.getLogger(__name__)

BATCH = 10_000  # messages per poll: large enough that librdkafka's per-call cost vanishes


class LogUnreadable(RefNetError):
    """The log cannot be read to its end (broker down, topic missing, records lost)."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One message as it sits in the log."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None  # the record's Kafka timestamp, if it has one


Progress = Callable[[int], None]  # called with the number of records read since the last call


def _consumer(settings: Settings) -> Consumer:
    config: dict[str, object] = client_config(settings) | {
        # A group id is required by the client; no offsets are ever committed under it.
        "group.id": f"{settings.consumer_group}-audit-reader",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
        "queued.max.messages.kbytes": 256 * 1024,
    }
    return Consumer(config, logger=log)


def log_ends(settings: Settings, topic: str | None = None, timeout: float = 10.0) -> dict[int, int]:
    """The high watermark of each partition of `topic` (default: the event log).

    Raises LogUnreadable when the broker does not answer or the topic is missing.
    """
    name = topic or settings.topic_events
    consumer = _consumer(settings)
    try:
        try:
            meta = consumer.list_topics(name, timeout=timeout)
        except KafkaException as exc:
            where = client_config(settings)["bootstrap.servers"]
            raise LogUnreadable(f"cannot reach Kafka at {where}: {exc}") from exc
        found = meta.topics.get(name)
        if found is None or found.error is not None:
            raise LogUnreadable(f"topic {name} does not exist")
        ends: dict[int, int] = {}
        for partition in sorted(found.partitions):
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=timeout, cached=False
                )
            except KafkaException as exc:
                raise LogUnreadable(f"cannot read the end of {name}[{partition}]: {exc}") from exc
            ends[partition] = high
        return ends
    finally:
        consumer.close()


def read_log(
    settings: Settings,
    ends: Mapping[int, int] | None = None,
    topic: str | None = None,
    on_progress: Progress | None = None,
    timeout: float = 30.0,
) -> Iterator[LogRecord]:
    """Every record of `topic` from offset 0 up to `ends` (exclusive), partition by partition
    interleaved as the broker delivers them; offsets rise within each partition.

    `ends` defaults to the high watermarks when the read starts. Raises
    LogUnreadable if the log stops answering for `timeout` seconds before the
    ends are reached, or if records below an end are gone (retention is unlimited
    by contract, so a missing record is a finding, not an optimisation).
    """
    name = topic or settings.topic_events
    stop = dict(ends) if ends is not None else log_ends(settings, name)
    remaining = {p: end for p, end in stop.items() if end > 0}
    if not remaining:
        return
    consumer = _consumer(settings)
    try:
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in sorted(remaining)])
        expected = dict.fromkeys(remaining, 0)
        quiet = 0.0
        while remaining:
            messages = consumer.consume(BATCH, timeout=1.0)
            if not messages:
                quiet += 1.0
                if quiet >= timeout:
                    raise LogUnreadable(
                        f"{name}: no records for {timeout:.0f}s with "
                        f"{sum(remaining.values()) - sum(expected[p] for p in remaining)} "
                        "still to read"
                    )
                continue
            quiet = 0.0
            delivered = 0
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise LogUnreadable(f"{name}: {error.str()}")
                partition, offset = message.partition(), message.offset()
                if partition is None or offset is None:
                    continue  # only errors lack a position, and those were handled above
                end = remaining.get(partition)
                if end is None or offset >= end:
                    continue  # past the snapshot's end
                if offset != expected[partition] and expected[partition] == 0 and offset > 0:
                    raise LogUnreadable(
                        f"{name}[{partition}] starts at offset {offset}: "
                        f"records 0..{offset - 1} are gone from the log"
                    )
                expected[partition] = offset + 1
                kind, stamp = message.timestamp()
                yield LogRecord(
                    partition,
                    offset,
                    message.key(),
                    message.value(),
                    stamp if kind != 0 else None,  # 0: TIMESTAMP_NOT_AVAILABLE
                )
                delivered += 1
                if offset + 1 >= end:
                    del remaining[partition]
            if on_progress is not None and delivered:
                on_progress(delivered)
    finally:
        consumer.close()
