"""The nodes of the local Kafka cluster: each a combined KRaft broker and controller.

One node is the default (the demo's broker). `REFNET_KAFKA_BROKERS=3` (or
`stack up --brokers 3`) runs three from the same jars: node i listens on each of the
stack's Kafka ports + 10·(i-1) and keeps its data in its own directory, and the three
controllers form a static quorum. From three nodes on, every topic has three replicas
and an acknowledged write is on two of them (`min.insync.replicas=2`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refnet.events.settings import Settings
from refnet.services.kafka.topics import replication
from refnet.services.localstack.process import data_dir

KAFKA = "kafka"
"""Process name of node 1, the only node of the default stack; node i is `kafka-i`."""
PORT_STEP = 10


@dataclass(frozen=True)
class Node:
    """One node of the local cluster: its process name, ports and directory."""

    id: int
    name: str
    port: int
    controller_port: int
    sasl_port: int
    home: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def nodes(settings: Settings) -> list[Node]:
    """The cluster's nodes, node 1 first (its name and directory are the single broker's)."""
    found = []
    for index in range(settings.kafka_brokers):
        step = PORT_STEP * index
        name = KAFKA if index == 0 else f"{KAFKA}-{index + 1}"
        found.append(
            Node(
                id=index + 1,
                name=name,
                port=settings.kafka_port + step,
                controller_port=settings.kafka_controller_port + step,
                sasl_port=settings.kafka_sasl_port + step,
                home=data_dir(settings) / name,
            )
        )
    return found


def server_properties(settings: Settings, node: Node) -> dict[str, str]:
    """The broker-and-controller configuration of `node`."""
    port, controller, sasl = node.port, node.controller_port, node.sasl_port
    replicas, in_sync = replication(settings)
    members = nodes(settings)
    if len(members) == 1:
        quorum = {"controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}"}
    else:  # a static quorum: every node knows the voters from the start
        voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in members)
        quorum = {"controller.quorum.voters": voters}
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.id),
        **quorum,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller},"
            f"SASL://127.0.0.1:{sasl}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL://127.0.0.1:{sasl}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL:SASL_PLAINTEXT"
        ),
        # Partners and services authenticate on the SASL listener with SCRAM credentials
        # kept in the cluster metadata (see services/kafka/access.py).
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # PLAINTEXT (the local operator's listener: worker, CLI, tests) and CONTROLLER
        # are bound to loopback and authenticate nobody, so ANONYMOUS is a super user.
        # A production broker would disable PLAINTEXT and use admin over SASL instead.
        "super.users": "User:ANONYMOUS;User:admin",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(node.home / "data"),
        "num.partitions": str(settings.topic_partitions),
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(in_sync),
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(in_sync),
        "group.initial.rebalance.delay.ms": "0",
        # Topics are made by `ensure_topics` with explicit configs, never by accident.
        "auto.create.topics.enable": "false",
    }


def write_server_properties(settings: Settings, node: Node) -> Path:
    """Write `<node home>/server.properties`; make its data directory."""
    (node.home / "data").mkdir(parents=True, exist_ok=True)
    path = node.home / "server.properties"
    properties = server_properties(settings, node)
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path
