"""The local stack for real: `up` brings up a broker, topics and PostgreSQL; again is harmless.

Runs against the stack the settings name (REFNET_*), starting what is missing; it never
stops the shared broker or database. Background-process tests use their own data dir.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from refnet.events.settings import Settings
from refnet.services.localstack import stack
from refnet.services.localstack.process import pid_file

pytestmark = pytest.mark.integration

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
# Ignores SIGTERM, then says so by creating the file named by its argument.
STUBBORN = [
    sys.executable,
    "-c",
    "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "pathlib.Path(sys.argv[1]).touch(); time.sleep(120)",
]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
async def first_up(settings: Settings) -> stack.UpReport:
    return await stack.up(settings)


async def test_status_after_up_reports_kafka_and_postgres_with_versions(
    settings: Settings, first_up: stack.UpReport
) -> None:
    report = await stack.status(settings)

    kafka, postgres = report.component("kafka"), report.component("postgres")
    assert kafka.up and kafka.version == stack.kafka_version()
    assert postgres.up and postgres.version and postgres.version[0].isdigit()
    assert [entry.partition for entry in report.lag] == list(range(settings.topic_partitions))
    assert all(entry.lag == max(0, entry.end_offset - entry.next_offset) for entry in report.lag)


async def test_topics_have_their_partitions_and_unlimited_retention(
    settings: Settings, first_up: stack.UpReport
) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topics = admin.list_topics(timeout=10).topics
    names = [settings.topic_events, settings.topic_dead_letter]
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    configs = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}

    assert len(topics[settings.topic_events].partitions) == settings.topic_partitions == 12
    assert len(topics[settings.topic_dead_letter].partitions) == 3
    for name in names:
        assert configs[name]["retention.ms"].value == "-1"
        assert configs[name]["retention.bytes"].value == "-1"
    assert all(not topic.problems for topic in first_up.topics)


async def test_up_again_is_harmless(settings: Settings, first_up: stack.UpReport) -> None:
    again = await stack.up(settings)

    assert again.kafka.outcome in ("running", "external")
    assert again.kafka.pid == (first_up.kafka.pid if first_up.kafka.outcome != "external" else None)
    assert not any(topic.created for topic in again.topics)
    assert again.database_url == first_up.database_url


async def test_an_existing_topic_that_differs_is_reported_not_changed(
    settings: Settings, first_up: stack.UpReport
) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {"topic_events": f"test-stack-{suffix}", "topic_dead_letter": f"test-stack-{suffix}-dl"}
    made = stack.ensure_topics(settings.model_copy(update={**names, "topic_partitions": 2}))
    try:
        found = stack.ensure_topics(settings.model_copy(update={**names, "topic_partitions": 4}))
    finally:
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        for future in admin.delete_topics(list(names.values())).values():
            future.result()

    assert all(topic.created for topic in made)
    event_log = found[0]
    assert not event_log.created and event_log.partitions == 2
    assert "REFNET_TOPIC_PARTITIONS=2" in event_log.problems[0]


def test_background_process_starts_and_stops(tmp_path: Path) -> None:
    own = Settings(data_dir=tmp_path)

    pid = stack.start_background("sleeper", SLEEPER, own)

    assert stack.is_running("sleeper", own)
    assert pid_file(own, "sleeper").read_text().split()[0] == str(pid)
    assert stack.stop_background("sleeper", own, timeout=10)
    assert not stack.is_running("sleeper", own)
    assert not pid_file(own, "sleeper").exists()
    assert not stack.stop_background("sleeper", own)


def test_stop_kills_a_process_that_ignores_sigterm_and_leaves_the_rest(tmp_path: Path) -> None:
    own = Settings(data_dir=tmp_path)
    ready = tmp_path / "ignoring-sigterm"
    stack.start_background("stubborn", [*STUBBORN, str(ready)], own)
    stack.start_background(stack.WORKER, SLEEPER, own)
    deadline = time.monotonic() + 20
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition, bounded: the child needs a moment to start

    report = stack.stop(own, timeout=1)

    assert sorted(report.stopped) == ["stubborn", stack.WORKER]
    assert not stack.is_running("stubborn", own) and not stack.is_running(stack.WORKER, own)


def test_a_program_that_cannot_start_raises_process_failed(tmp_path: Path) -> None:
    own = Settings(data_dir=tmp_path)

    with pytest.raises(stack.ProcessFailed, match="could not start nothing"):
        stack.start_background("nothing", [str(tmp_path / "no-such-program")], own)
