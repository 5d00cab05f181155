"""The fault suite's three-node cluster: its settings, and breaking its nodes one by one.

The cluster runs beside the single broker the rest of the tests use, on ports of its
own (29092 and up) and in a data directory of its own, from the same jars; it is the
cluster `refnet stack up --brokers 3` starts, only elsewhere.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from refnet.events.settings import Settings
from refnet.services.kafka.admin import admin_client
from refnet.services.localstack.kafka import start_kafka, stop_kafka
from refnet.services.localstack.kafka_cluster import ClusterStatus, cluster_status
from refnet.services.localstack.kafka_nodes import Node, nodes
from refnet.services.localstack.process import running_pid, stop_background

FIRST_PORT = 29092


def cluster_overrides(data_dir: Path) -> dict[str, Any]:
    """World settings for the cluster (given in full: the environment may name a broker)."""
    ports = [FIRST_PORT + 10 * i for i in range(3)]
    return {
        "kafka_brokers": 3,
        "kafka_port": FIRST_PORT,
        "kafka_controller_port": FIRST_PORT + 1,
        "kafka_sasl_port": FIRST_PORT + 2,
        "kafka_bootstrap": ",".join(f"127.0.0.1:{p}" for p in ports),
        "kafka_sasl_bootstrap": ",".join(f"127.0.0.1:{p + 2}" for p in ports),
        "kafka_heap": "512m",
        "data_dir": data_dir,
    }


def start(settings: Settings, timeout: float = 180.0) -> None:
    """Start every node that is not running; wait until all three answer and every
    partition has a leader and all its replicas in sync again."""
    start_kafka(settings)
    deadline = time.monotonic() + timeout
    while True:
        status = state(settings)
        if len(status.brokers) == 3 and not status.offline and not status.under_replicated:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cluster did not recover within {timeout:.0f}s: {status}")
        time.sleep(0.2)


def stop(settings: Settings) -> None:
    stop_kafka(settings, timeout=60)


def leader(settings: Settings, topic: str, partition: int = 0) -> Node:
    """The node that leads `partition` of `topic` now."""
    metadata = admin_client(settings.kafka_bootstrap).list_topics(topic, timeout=10)
    leader_id = metadata.topics[topic].partitions[partition].leader
    return next(node for node in nodes(settings) if node.id == leader_id)


def kill(settings: Settings, node: Node) -> None:
    """SIGKILL `node` and wait until it is gone: no controlled shutdown, no flush."""
    pid = running_pid(node.name, settings)
    if pid is None:
        raise RuntimeError(f"node {node.name} of the cluster is not running")
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(timeout=30)


def shut_down(settings: Settings, node: Node) -> None:
    """Stop `node` as an operator would (SIGTERM: controlled shutdown)."""
    if not stop_background(node.name, settings, timeout=60):
        raise RuntimeError(f"node {node.name} of the cluster was not running")


def state(settings: Settings) -> ClusterStatus:
    found = cluster_status(settings)
    assert found is not None
    return found
