"""The local cluster's layout: ports, directories, the quorum, and the topics' replication."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from refnet.events.settings import Settings
from refnet.services.kafka.topics import replication, topic_config
from refnet.services.localstack.kafka_nodes import nodes, server_properties


def test_one_node_is_the_single_broker_of_the_demo(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:19092")
    (node,) = nodes(settings)
    properties = server_properties(settings, node)

    assert (node.name, node.port, node.home) == ("kafka", 19092, tmp_path.resolve() / "kafka")
    assert properties["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert "controller.quorum.voters" not in properties
    assert replication(settings) == (1, 1)
    assert topic_config(settings)["min.insync.replicas"] == "1"


def test_three_nodes_each_with_ports_a_directory_and_a_vote(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka_brokers=3, kafka_port=29092,
                        kafka_controller_port=29093, kafka_sasl_port=29094)  # fmt: skip
    members = nodes(settings)
    voters = "1@127.0.0.1:29093,2@127.0.0.1:29103,3@127.0.0.1:29113"

    assert [n.name for n in members] == ["kafka", "kafka-2", "kafka-3"]
    assert [n.port for n in members] == [29092, 29102, 29112]
    assert [n.sasl_port for n in members] == [29094, 29104, 29114]
    assert len({n.home for n in members}) == 3
    for node in members:
        properties = server_properties(settings, node)
        assert properties["node.id"] == str(node.id)
        assert properties["controller.quorum.voters"] == voters
        assert properties["log.dirs"] == str(node.home / "data")
        assert properties["min.insync.replicas"] == "2"
        assert properties["offsets.topic.replication.factor"] == "3"
        assert f"PLAINTEXT://127.0.0.1:{node.port}" in properties["listeners"]
    assert settings.kafka_bootstrap == "127.0.0.1:29092,127.0.0.1:29102,127.0.0.1:29112"
    assert settings.kafka_sasl_bootstrap == "127.0.0.1:29094,127.0.0.1:29104,127.0.0.1:29114"
    assert replication(settings) == (3, 2)
    assert topic_config(settings)["min.insync.replicas"] == "2"


def test_a_bootstrap_given_is_kept_and_an_even_quorum_is_refused() -> None:
    given = Settings(kafka_brokers=3, kafka_bootstrap="10.0.0.1:9092")
    assert given.kafka_bootstrap == "10.0.0.1:9092"
    with pytest.raises(ValidationError, match="kafka_brokers must be odd"):
        Settings(kafka_brokers=2)
    with pytest.raises(ValidationError, match="kafka_brokers"):
        Settings(kafka_brokers=7)
