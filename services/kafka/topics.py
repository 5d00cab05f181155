"""The event log and dead-letter topics: created with explicit configs, checked when present.

Retention is unlimited on both: the log is the system of record. An existing topic is
never altered; how it differs from what the stack would create is reported instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # not re-exported in its stubs
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from refnet.events.errors import LogUnavailable
from refnet.events.settings import Settings
from refnet.projections.worker.lag import end_offsets
from refnet.services.kafka.admin import BrokerUnavailable, admin_client, quiet_logger

DEAD_LETTER_PARTITIONS = 3
TIMEOUT = 30.0
METADATA_WAIT = 10.0

TOPIC_CONFIG: dict[str, str] = {
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
    "min.insync.replicas": "1",
    "max.message.bytes": "1048576",
}


def replication(settings: Settings) -> tuple[int, int]:
    """(replicas, min.insync.replicas): (1, 1) on one broker, (3, 2) on a cluster of three
    or more, so an acknowledged write survives the loss of any one broker."""
    return (3, 2) if settings.kafka_brokers >= 3 else (1, 1)


def topic_config(settings: Settings) -> dict[str, str]:
    """TOPIC_CONFIG with the cluster's min.insync.replicas."""
    return TOPIC_CONFIG | {"min.insync.replicas": str(replication(settings)[1])}


@dataclass(frozen=True)
class TopicState:
    """One topic after `ensure_topics`: created now or found, and how it differs if found."""

    name: str
    partitions: int
    created: bool
    problems: tuple[str, ...] = ()


def ensure_topics(settings: Settings) -> list[TopicState]:
    """Create the event log and dead-letter topics if missing; check them if present."""
    admin = admin_client(settings.kafka_bootstrap)
    wanted = {
        settings.topic_events: settings.topic_partitions,
        settings.topic_dead_letter: DEAD_LETTER_PARTITIONS,
    }
    created = _create_missing(admin, wanted, settings)
    found = [name for name in wanted if name not in created]
    counts = _listed(admin, found)
    configs = _configs(admin, found)
    states = []
    for name, partitions in wanted.items():
        if name in created:
            states.append(TopicState(name, partitions, created=True))
            continue
        is_log = name == settings.topic_events
        problems = _problems(counts[name], partitions, configs[name], is_log, settings)
        states.append(TopicState(name, counts[name], created=False, problems=problems))
    return states


def high_watermarks(settings: Settings, topic: str) -> dict[int, int]:
    """The offset the next event will get, per partition of `topic` ({} if no such topic)."""
    try:
        return end_offsets(settings, topic, timeout=10, logger=quiet_logger())
    except LogUnavailable as exc:
        raise BrokerUnavailable(f"reading the offsets of {topic} failed: {exc}") from exc


def _create_missing(admin: AdminClient, wanted: dict[str, int], settings: Settings) -> set[str]:
    """Create the topics of `wanted` the broker does not list; return those created now."""
    listed = _partition_counts(admin)
    replicas, config = replication(settings)[0], topic_config(settings)
    missing = [
        NewTopic(name, num_partitions=count, replication_factor=replicas, config=dict(config))
        for name, count in wanted.items()
        if name not in listed
    ]
    if not missing:
        return set()
    created = set()
    futures = admin.create_topics(missing, operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
    for name, future in futures.items():
        try:
            future.result()
            created.add(name)
        except KafkaException as exc:
            # Created meanwhile by another `up`, or just now and not yet listed: it exists.
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailable(f"creating topic {name} failed: {exc}") from exc
    return created


def _listed(admin: AdminClient, names: list[str]) -> dict[str, int]:
    """Partition counts including every topic in `names`, waiting for just-created ones.

    A topic is in the controller's metadata a moment before the broker lists it.
    """
    deadline = time.monotonic() + METADATA_WAIT
    while True:
        counts = _partition_counts(admin)
        unlisted = [name for name in names if name not in counts]
        if not unlisted:
            return counts
        if time.monotonic() > deadline:
            raise BrokerUnavailable(f"the broker does not list topic {unlisted[0]}, which exists")
        time.sleep(0.2)


def _partition_counts(admin: AdminClient) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=TIMEOUT)
    except KafkaException as exc:
        raise BrokerUnavailable(f"the broker did not return its topics: {exc}") from exc
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def _configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """The configs of each topic in `names`, waiting briefly for a topic just created."""
    if not names:
        return {}
    deadline = time.monotonic() + METADATA_WAIT
    result: dict[str, dict[str, str]] = {}
    while pending := [name for name in names if name not in result]:
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in pending]
        for resource, future in admin.describe_configs(resources, request_timeout=TIMEOUT).items():
            try:
                entries = future.result()
            except KafkaException as exc:
                # A topic another client has just created can be listed by one part of
                # the broker before the part that answers config requests knows it.
                unknown = exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
                if unknown and time.monotonic() < deadline:
                    continue
                raise BrokerUnavailable(
                    f"reading configs of {resource.name} failed: {exc}"
                ) from exc
            result[resource.name] = {key: str(entry.value) for key, entry in entries.items()}
        if len(result) < len(names):
            time.sleep(0.2)
    return result


def _problems(
    partitions: int, wanted: int, config: dict[str, str], is_log: bool, settings: Settings
) -> tuple[str, ...]:
    problems = []
    if partitions != wanted and is_log:
        # Keys are hashed over the partition count: changing it would reorder history.
        problems.append(
            f"has {partitions} partitions, not {wanted}; keep the topic and set "
            f"REFNET_TOPIC_PARTITIONS={partitions}"
        )
    elif partitions != wanted:
        problems.append(f"has {partitions} partitions, not {wanted}")
    for key, value in topic_config(settings).items():
        if config.get(key) != value:
            problems.append(f"{key} is {config.get(key)}, not {value}")
    return tuple(problems)
