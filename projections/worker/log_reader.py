"""Reading the event log from the start with confluent-kafka, without a consumer group.

Audit replays, integrity checks, archives and rebuilds all read the log the
same way: every partition from its first offset up to an end fixed when the
read starts (by default the high watermarks then), so a read is a snapshot of
the log even while partners keep publishing. Nothing here touches PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TypeVar

from confluent_kafka import Consumer, Message, TopicPartition

from refnet.events.errors import LogUnavailable
from refnet.events.kafka_client import client_config
from refnet.events.settings import Settings
from refnet.projections.worker.lag import end_offsets
from refnet.projections.worker.projector import Record

log = logging.getLogger(__name__)
# librdkafka repeats a refused connection many times a second; the reader reports a
# log it cannot read once, as LogUnavailable, so the client library's lines go nowhere.
_CLIENT_LOG = logging.getLogger(f"{__name__}.librdkafka")
_CLIENT_LOG.addHandler(logging.NullHandler())
_CLIENT_LOG.propagate = False

BATCH = 10_000  # messages per poll: large enough that librdkafka's per-call cost vanishes
POLL_SECONDS = 0.05
T = TypeVar("T")


Progress = Callable[[int], None]  # called with the number of records read since the last call


def _consumer(settings: Settings) -> Consumer:
    config: dict[str, object] = client_config(settings) | {
        # A group id is required by the client; no offsets are ever committed under it.
        "group.id": f"{settings.consumer_group}-audit-reader",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "fetch.max.bytes": 16 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        "queued.max.messages.kbytes": 16 * 1024,  # read-ahead: bounds the reader's memory
    }
    return Consumer(config, logger=_CLIENT_LOG)


def log_ends(settings: Settings, topic: str | None = None, timeout: float = 10.0) -> dict[int, int]:
    """The high watermark of each partition of `topic` (default: the event log).

    Raises LogUnavailable when the broker does not answer or the topic is missing.
    """
    name = topic or settings.topic_events
    ends = end_offsets(settings, name, timeout, _CLIENT_LOG)  # LogUnavailable if the broker is down
    if not ends:
        raise LogUnavailable(f"topic {name} does not exist")
    return ends


def read_log(
    settings: Settings,
    ends: Mapping[int, int] | None = None,
    topic: str | None = None,
    on_progress: Progress | None = None,
    timeout: float = 30.0,
    starts: Mapping[int, int] | None = None,
) -> Iterator[Record]:
    """Every record of `topic` from `starts` (default: offset 0) up to `ends` (exclusive),
    partitions interleaved as the broker delivers them, offsets rising in each.

    `ends` defaults to the high watermarks when the read starts. Raises
    LogUnavailable if the log stops answering for `timeout` seconds before the
    ends are reached, or if an offset below an end is missing (retention is
    unlimited by contract, so a hole is a finding, not an optimisation).
    """
    name = topic or settings.topic_events
    stop = dict(ends) if ends is not None else log_ends(settings, name)
    begin = starts or {}
    expected = {p: begin.get(p, 0) for p, end in stop.items() if end > begin.get(p, 0)}
    remaining = {p: stop[p] for p in expected}
    if not remaining:
        return
    consumer = _consumer(settings)
    try:
        consumer.assign([TopicPartition(name, p, o) for p, o in sorted(expected.items())])
        quiet = 0.0
        while remaining:
            # consume() waits for a full batch until its timeout: keep that short, so the
            # end of a small read is not a wait.
            messages = consumer.consume(BATCH, timeout=POLL_SECONDS)
            quiet = 0.0 if messages else quiet + POLL_SECONDS
            if quiet >= timeout:
                left = sum(remaining[p] - expected[p] for p in remaining)
                raise LogUnavailable(f"{name}: no records for {timeout:.0f}s with {left} to read")
            delivered = 0
            for message in messages:
                record = _next_record(name, message, expected, remaining)
                if record is not None:
                    delivered += 1
                    yield record
            if on_progress is not None and delivered:
                on_progress(delivered)
    finally:
        consumer.close()


def _next_record(
    topic: str, message: Message, expected: dict[int, int], remaining: dict[int, int]
) -> Record | None:
    """The message as a record if it is the next one wanted; raises on errors and holes."""
    error = message.error()
    if error is not None:
        raise LogUnavailable(f"{topic}: {error.str()}")
    partition, offset = message.partition(), message.offset()
    end = remaining.get(partition) if partition is not None else None
    if partition is None or end is None or offset is None or offset >= end:
        return None  # past this read's end
    if offset != expected[partition]:
        raise LogUnavailable(
            f"{topic}[{partition}]: offsets {expected[partition]}..{offset - 1} are missing"
        )
    expected[partition] = offset + 1
    if offset + 1 >= end:
        del remaining[partition]
    kind, stamp = message.timestamp()
    return Record(
        partition, offset, message.key(), message.value(), stamp if kind else None
    )  # kind 0: TIMESTAMP_NOT_AVAILABLE


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last one shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
