"""What `stack status` shows of a local cluster: the brokers alive, the controller, and
the partitions short of replicas.

The controller is read from the nodes' own KRaft state (`quorum-state` in each node's
metadata log directory): the leader the running nodes voted for. A client's
DescribeCluster answer would not do: in KRaft a broker names any live broker there.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from confluent_kafka import KafkaException

from refnet.events.settings import Settings
from refnet.services.kafka.admin import admin_client
from refnet.services.localstack.kafka_nodes import nodes
from refnet.services.localstack.process import running_pid

TIMEOUT = 5.0


@dataclass(frozen=True)
class ClusterStatus:
    """The cluster as the running nodes and the brokers' metadata describe it."""

    nodes: int
    brokers: list[int]
    """Ids of the brokers in the metadata, i.e. alive and registered."""
    controller: int | None
    """The quorum's leader as most running nodes recorded it; None if none is known."""
    under_replicated: list[str]
    """`topic/partition` with fewer replicas in sync than assigned."""
    offline: list[str]
    """`topic/partition` without a leader: neither written nor read."""


def cluster_status(settings: Settings) -> ClusterStatus | None:
    """None for a single broker; else the cluster's state (empty lists when none answers)."""
    members = nodes(settings)
    if len(members) == 1:
        return None
    brokers, short, offline = _replicas(settings)
    return ClusterStatus(len(members), brokers, _controller(settings), short, offline)


def _controller(settings: Settings) -> int | None:
    votes: Counter[int] = Counter()
    for node in nodes(settings):
        if running_pid(node.name, settings) is None:
            continue
        state = node.home / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            leader = int(json.loads(state.read_text())["leaderId"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if leader >= 0:
            votes[leader] += 1
    return votes.most_common(1)[0][0] if votes else None


def _replicas(settings: Settings) -> tuple[list[int], list[str], list[str]]:
    """(brokers alive, partitions under-replicated, partitions offline)."""
    try:
        metadata = admin_client(settings.kafka_bootstrap).list_topics(timeout=TIMEOUT)
    except KafkaException:
        return [], [], []
    short: list[str] = []
    offline: list[str] = []
    for name, topic in sorted(metadata.topics.items()):
        for number, partition in sorted(topic.partitions.items()):
            if partition.leader < 0:
                offline.append(f"{name}/{number}")
            if len(partition.isrs) < len(partition.replicas):
                short.append(f"{name}/{number}")
    return sorted(metadata.brokers), short, offline
