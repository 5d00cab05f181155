"""How far the projection is behind the log, per partition.

Lag is the partition's end offset (high watermark) minus the next offset the
read model will apply; zero everywhere means caught up.
"""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from refnet.events.errors import LogUnavailable
from refnet.events.kafka_client import bootstrap, client_config
from refnet.events.settings import Settings
from refnet.projections.store.database import Conn
from refnet.projections.store.schema import PROJECTION, READ_OFFSETS
from refnet.projections.store.views import PartitionLag


def end_offsets(
    settings: Settings,
    topic: str | None = None,
    timeout: float = 5.0,
    logger: logging.Logger | None = None,
) -> dict[int, int]:
    """High watermarks of `topic` (default: the event log) per partition; {} if it is missing.

    Blocking: run it in a thread. Raises LogUnavailable when the broker does not answer.
    """
    name = topic or settings.topic_events
    try:
        return _end_offsets(settings, name, timeout, logger)
    except KafkaException as exc:
        raise LogUnavailable(
            f"cannot read the end of {name} at {bootstrap(settings)}: {exc}"
        ) from exc


def _end_offsets(
    settings: Settings, name: str, timeout: float, logger: logging.Logger | None
) -> dict[int, int]:
    config: dict[str, object] = client_config(settings) | {
        "group.id": f"{settings.consumer_group}-lag-probe",
        "enable.auto.commit": False,
    }
    consumer = Consumer(config, logger=logger) if logger is not None else Consumer(config)
    try:
        meta = consumer.list_topics(name, timeout=timeout)
        found = meta.topics.get(name)
        if found is None or found.error is not None:
            return {}
        ends = {}
        for partition in found.partitions:
            tp = TopicPartition(name, partition)
            _low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            ends[partition] = high
        return ends
    finally:
        consumer.close()


async def stored_offsets(conn: Conn, topic: str) -> dict[int, int]:
    """The projection's next offset per partition of `topic`, as stored with its rows."""
    rows = await conn.fetch(READ_OFFSETS, PROJECTION, topic)
    return {r["partition"]: r["next_offset"] for r in rows}


async def partition_lag(conn: Conn, settings: Settings) -> list[PartitionLag]:
    """Lag per partition of the event log (raises LogUnavailable if the broker is down)."""
    ends = await asyncio.to_thread(end_offsets, settings)
    return lag_of(ends, await stored_offsets(conn, settings.topic_events))


def lag_of(ends: dict[int, int], stored: dict[int, int]) -> list[PartitionLag]:
    """Lag per partition from the log's end offsets and the stored next offsets.

    No stored offset means the projection has read nothing of that partition yet.
    """
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


def group_members(settings: Settings, timeout: float = 10.0) -> list[str]:
    """`client_id@host` of each live member of the projection's consumer group.

    Blocking: run it in a thread. Raises LogUnavailable when the broker does not answer.
    """
    admin = AdminClient(client_config(settings))
    future = admin.describe_consumer_groups([settings.consumer_group], request_timeout=timeout)
    try:
        group = future[settings.consumer_group].result()
    except KafkaException as exc:
        where = bootstrap(settings)
        raise LogUnavailable(
            f"cannot describe group {settings.consumer_group} at {where}: {exc}"
        ) from exc
    return [f"{m.client_id}@{m.host.lstrip('/')}" for m in group.members]
