"""Kafka's own tools through `refnet stack kafka`: an operator's `kafka-consumer-groups
--describe` sees the lag `refnet stack status` shows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from refnet.services.localstack.process import settings_env
from tests.integration.world import World, history, new_pid

pytestmark = pytest.mark.integration


def refnet(world: World, *args: str) -> str:
    argv = [sys.executable, "-m", "refnet.services.cli.main", *args]
    done = subprocess.run(
        argv, env=settings_env(world.settings), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_consumer_groups_describe_shows_the_lag_stack_status_shows(world: World) -> None:
    worker = world.start_worker()
    world.publish(history(200, new_pid("k")))
    await world.wait()
    worker.terminate()  # a clean stop: faust commits its last offsets to Kafka
    assert worker.wait(timeout=60) == 0
    waiting = world.publish(history(60, new_pid("k")))

    described = refnet(
        world, "stack", "kafka", "consumer-groups", "--describe",
        "--group", world.settings.consumer_group,
    )  # fmt: skip
    rows = [line.split() for line in described.splitlines()]
    header = next(r for r in rows if r[:2] == ["GROUP", "TOPIC"])
    column = {name: i for i, name in enumerate(header)}
    by_tool = {
        int(r[column["PARTITION"]]): int(r[column["LAG"]])
        for r in rows
        if len(r) == len(header) and r[column["TOPIC"]] == world.settings.topic_events
    }
    status = json.loads(refnet(world, "stack", "status", "--json"))
    by_status = {entry["partition"]: entry["lag"] for entry in status["lag"]}
    assert by_tool == by_status
    assert sum(by_tool.values()) == waiting > 0
    assert len(by_tool) == world.settings.topic_partitions


def test_an_unknown_tool_is_named_with_the_ones_there_are(world: World) -> None:
    argv = [sys.executable, "-m", "refnet.services.cli.main", "stack", "kafka", "reassign"]
    done = subprocess.run(argv, env=settings_env(world.settings), capture_output=True, text=True)
    assert done.returncode == 1
    assert "unknown Kafka tool 'reassign'" in done.stdout + done.stderr
    assert "consumer-groups" in done.stdout + done.stderr
