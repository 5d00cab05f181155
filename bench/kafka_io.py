"""Kafka side of the benchmark: own topics, the validated and raw publish, the raw consume."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench.workload import Raw
from refnet.events.catalogue import EVENT_TYPES, EventModel
from refnet.events.keystore import LocalKeys
from refnet.events.publisher import Publisher, producer_config
from refnet.events.settings import Settings
from refnet.services.kafka.topics import TOPIC_CONFIG


def build(raw: Raw) -> EventModel:
    """The model of one event: every field validated, as a partner's client does."""
    return EVENT_TYPES[raw["type"]].model_validate(raw)  # type: ignore[return-value]


def create_topic(settings: Settings, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topic = NewTopic(name, settings.topic_partitions, 1, config=dict(TOPIC_CONFIG))
    for future in admin.create_topics([topic], operation_timeout=30).values():
        future.result()


def delete_topics(settings: Settings, prefixes: Iterable[str]) -> list[str]:
    """Delete every topic whose name starts with one of `prefixes`; return their names."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    wanted = tuple(prefixes)
    names = [n for n in admin.list_topics(timeout=30).topics if n.startswith(wanted)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()
    return names


def delete_groups(settings: Settings, groups: list[str]) -> None:
    """Best effort: the benchmark's consumer groups (absent ones are fine)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
        try:
            future.result()
        except KafkaException:
            pass


def validated_publish(settings: Settings, raws: list[Raw]) -> float:
    """Seconds to build, sign, encode and publish (confirmed) every event with `Publisher`."""
    publisher = Publisher(settings, signer_for=LocalKeys(settings.keys_dir).signer)
    started = time.perf_counter()
    report = publisher.publish((build(r) for r in raws), timeout=300)
    elapsed = time.perf_counter() - started
    assert report.delivered == len(raws), report
    return elapsed


def raw_produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Seconds to produce pre-encoded pairs (same config) and have all confirmed."""
    producer = Producer(producer_config(settings))
    delivered = 0

    def confirmed(err: object, _msg: object) -> None:
        nonlocal delivered
        delivered += err is None

    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=confirmed)
                break
            except BufferError:
                producer.poll(0.1)
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - started
    assert remaining == 0 and delivered == len(records), (remaining, delivered)
    return elapsed


def raw_consume(settings: Settings, topic: str, expected: int, group: str) -> float:
    """Seconds for a plain consumer to read `expected` messages of `topic` from the start."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        seen = 0
        deadline = time.monotonic() + 300
        while seen < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error() is None:
                    seen += 1
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    assert seen == expected, f"raw consume read {seen} of {expected}"
    return elapsed
