"""How far the projection is behind the log, per partition.

Lag is the partition's end offset (high watermark) minus the next offset the
read model will apply; zero everywhere means caught up.
"""

from __future__ import annotations

import asyncio

from confluent_kafka import Consumer, TopicPartition

from refnet.events.settings import Settings
from refnet.projections.database import Conn
from refnet.projections.store import PROJECTION
from refnet.projections.views import PartitionLag

_STORED = """
SELECT partition, next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2
"""


def end_offsets(settings: Settings, timeout: float = 5.0) -> dict[int, int]:
    """High watermarks of the event log's partitions (blocking; run in a thread)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.consumer_group}-lag-probe",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(settings.topic_events, timeout=timeout)
        topic = meta.topics.get(settings.topic_events)
        if topic is None or topic.error is not None:
            return {}
        ends = {}
        for partition in topic.partitions:
            tp = TopicPartition(settings.topic_events, partition)
            _low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            ends[partition] = high
        return ends
    finally:
        consumer.close()


async def stored_offsets(conn: Conn, topic: str) -> dict[int, int]:
    rows = await conn.fetch(_STORED, PROJECTION, topic)
    return {r["partition"]: r["next_offset"] for r in rows}


async def partition_lag(conn: Conn, settings: Settings) -> list[PartitionLag]:
    """Lag per partition of the event log (raises KafkaException if the broker is down)."""
    ends = await asyncio.to_thread(end_offsets, settings)
    stored = await stored_offsets(conn, settings.topic_events)
    return [
        PartitionLag(
            partition=p,
            end_offset=end,
            next_offset=stored.get(p, 0),
            lag=max(0, end - stored.get(p, 0)),
            ahead_of_log=stored.get(p, 0) > end,
        )
        for p, end in sorted(ends.items())
    ]
