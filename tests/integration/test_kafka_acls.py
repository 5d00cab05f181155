"""Direct Kafka access over the SASL/SCRAM listener, against the real broker and its ACLs.

A partner's principal writes to the event log and reads nothing; only the projection
service's principal reads it; a wrong or revoked password is refused. Every principal
made here is removed again, since ACLs outlive the test's topics.
"""

from __future__ import annotations

import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from typer.testing import CliRunner

from refnet.events.codec import decode
from refnet.events.errors import PublishFailed
from refnet.events.publisher import Publisher, producer_config
from refnet.events.settings import Settings
from refnet.services.cli.main import app
from refnet.services.kafka.access import (
    authorizer_enabled,
    grant_partner,
    grant_projections,
    list_principals,
    new_password,
    revoke_partner,
    revoke_principal,
    sasl_client_config,
)
from refnet.services.kafka.admin import admin_client, quiet_logger
from refnet.services.kafka.topics import high_watermarks
from refnet.services.localstack.kafka import port_open
from refnet.services.localstack.process import settings_env
from tests.integration.conftest import IN_CI
from tests.integration.world import World, enrolled

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sasl_listener")]

# Short, so a refused client gives up in seconds rather than librdkafka's minutes.
FAST_FAIL = {"message.timeout.ms": 2000, "reconnect.backoff.max.ms": 500}


@pytest.fixture(scope="module")
def sasl_listener() -> None:
    """The broker enforces ACLs and its SASL listener answers, or the tests cannot run."""
    settings = Settings()
    if authorizer_enabled(admin_client(settings.kafka_bootstrap)) and port_open(
        settings.kafka_sasl_bootstrap
    ):
        return
    reason = (
        f"the broker at {settings.kafka_bootstrap} has no authorizer or no SASL listener at "
        f"{settings.kafka_sasl_bootstrap}; restart it with `refnet stack down && refnet stack up`"
    )
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def principals(world: World) -> Iterator[Callable[[str], str]]:
    """Unique principal names for this test, each revoked (ACLs and credential) afterwards."""
    made: list[str] = []

    def name(role: str) -> str:
        made.append(f"test-{role}-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    for principal in made:
        revoke_principal(world.settings, principal)


def publisher_as(settings: Settings, username: str, password: str) -> Publisher:
    """The project's publisher (idempotent, acks=all) connected over SASL as `username`."""
    config = producer_config(settings, **sasl_client_config(settings, username, password))
    return Publisher(settings, producer=Producer(config, logger=quiet_logger()))


def consumer(settings: Settings, username: str, password: str) -> Consumer:
    config = sasl_client_config(settings, username, password) | {
        "group.id": settings.consumer_group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    return Consumer(config, logger=quiet_logger())


def first_event(client: Consumer, timeout: float = 30.0) -> Message:
    """The first message that is not an error; the errors met on the way if none comes."""
    errors: list[KafkaError] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = client.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is None:
            return message
        errors.append(error)
    raise AssertionError(f"no event within {timeout:.0f}s; errors: {errors}")


def refusals(client: Consumer, wanted: int, timeout: float = 30.0) -> set[int]:
    """Error codes the consumer returns until `wanted` is among them; no event may arrive."""
    codes: set[int] = set()
    deadline = time.monotonic() + timeout
    while wanted not in codes and time.monotonic() < deadline:
        message = client.poll(0.5)
        if message is None:
            continue
        error = message.error()
        assert error is not None, f"read an event: {message.value()!r}"
        codes.add(error.code())
    return codes


def published(world: World) -> int:
    return sum(high_watermarks(world.settings, world.settings.topic_events).values())


def test_a_partner_publishes_over_sasl_with_idempotence(
    world: World, principals: Callable[[str], str]
) -> None:
    partner, password = principals("partner"), new_password()
    grant_partner(world.settings, partner, password)

    report = publisher_as(world.settings, partner, password).publish(
        [enrolled("p-acl-000001", partner=partner), enrolled("p-acl-000002", partner=partner)]
    )

    assert report.delivered == 2 and not report.failed
    assert published(world) == 2


def test_a_partner_can_join_no_group_and_read_no_partition(
    world: World, principals: Callable[[str], str]
) -> None:
    partner, password = principals("partner"), new_password()
    grant_partner(world.settings, partner, password)
    publisher_as(world.settings, partner, password).publish([enrolled("p-acl-000003")])

    in_group = consumer(world.settings, partner, password)
    in_group.subscribe([world.settings.topic_events])
    try:
        refused = refusals(in_group, KafkaError.GROUP_AUTHORIZATION_FAILED)
    finally:
        in_group.close()
    assert refused == {KafkaError.GROUP_AUTHORIZATION_FAILED}

    # The client needs a group id even to fetch by partition; the fetch itself is refused.
    direct = consumer(world.settings, partner, password)
    partitions = range(world.settings.topic_partitions)
    direct.assign([TopicPartition(world.settings.topic_events, p, 0) for p in partitions])
    try:
        refused = refusals(direct, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    finally:
        direct.close()
    assert KafkaError.TOPIC_AUTHORIZATION_FAILED in refused
    assert refused <= {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}


def test_a_wrong_password_is_refused(world: World, principals: Callable[[str], str]) -> None:
    partner = principals("partner")
    grant_partner(world.settings, partner, new_password())
    errors: list[KafkaError] = []
    deliveries: list[KafkaError | None] = []
    config = sasl_client_config(world.settings, partner, "not-the-password")
    producer = Producer(config | FAST_FAIL | {"error_cb": errors.append}, logger=quiet_logger())

    producer.produce(
        world.settings.topic_events,
        value=b"{}",
        on_delivery=lambda err, _msg: deliveries.append(err),
    )
    producer.flush(15)

    assert KafkaError._AUTHENTICATION in {error.code() for error in errors}
    assert len(deliveries) == 1 and deliveries[0] is not None
    assert published(world) == 0


def test_only_the_projections_principal_reads_what_partners_publish(
    world: World, principals: Callable[[str], str]
) -> None:
    partner, partner_password = principals("partner"), new_password()
    reader, reader_password = principals("projections"), new_password()
    grant_partner(world.settings, partner, partner_password)
    grant_projections(world.settings, reader_password, principal=reader)
    event = enrolled("p-acl-000004", partner=partner)
    publisher_as(world.settings, partner, partner_password).publish([event])

    projections = consumer(world.settings, reader, reader_password)
    projections.subscribe([world.settings.topic_events])
    try:
        message = first_event(projections)
    finally:
        projections.close()

    assert decode(message.value() or b"") == event
    # It parks events in the dead-letter topic, but never writes to the log itself.
    parker = Producer(
        sasl_client_config(world.settings, reader, reader_password) | {"acks": "all"},
        logger=quiet_logger(),
    )
    parker.produce(world.settings.topic_dead_letter, value=b"parked")
    assert parker.flush(15) == 0
    with pytest.raises(PublishFailed, match="TOPIC_AUTHORIZATION_FAILED"):
        publisher_as(world.settings, reader, reader_password).publish(
            [enrolled("p-acl-000005")], timeout=15
        )
    assert published(world) == 1


def test_a_revoked_partner_can_no_longer_publish(
    world: World, principals: Callable[[str], str]
) -> None:
    partner, password = principals("partner"), new_password()
    grant_partner(world.settings, partner, password)
    before = publisher_as(world.settings, partner, password)
    before.publish([enrolled("p-acl-000006")])

    revoked = revoke_partner(world.settings, partner)

    assert revoked.acls == 2 and revoked.credential
    assert partner not in list_principals(world.settings)
    # A connection opened before the revocation loses its ACLs at once...
    with pytest.raises(PublishFailed, match="TOPIC_AUTHORIZATION_FAILED"):
        before.publish([enrolled("p-acl-000007")], timeout=15)
    # ...and a new one cannot authenticate.
    errors: list[KafkaError] = []
    config = sasl_client_config(world.settings, partner, password)
    after = Producer(config | FAST_FAIL | {"error_cb": errors.append}, logger=quiet_logger())
    after.produce(world.settings.topic_events, value=b"{}")
    after.flush(15)
    assert KafkaError._AUTHENTICATION in {error.code() for error in errors}
    assert published(world) == 1


def test_cli_adds_a_partner_and_its_settings_connect(
    world: World, principals: Callable[[str], str], tmp_path: Path
) -> None:
    partner, secret = principals("partner"), tmp_path / "partner.password"
    env = settings_env(world.settings)
    runner = CliRunner()

    added = runner.invoke(
        app, ["partners", "add", partner, "--password-file", str(secret)], env=env
    )
    acls = runner.invoke(app, ["partners", "acls"], env=env)

    assert added.exit_code == 0, added.output
    printed = dict(
        line.split("=", 1) for line in added.stdout.splitlines() if not line.startswith("#")
    )
    assert printed == {
        "bootstrap.servers": world.settings.kafka_sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": partner,
    }
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    password = secret.read_text().strip()
    assert password not in added.output
    report = publisher_as(world.settings, partner, password).publish([enrolled("p-acl-cli-000001")])
    assert report.delivered == 1
    assert acls.exit_code == 0, acls.output
    rows = [line.split() for line in acls.stdout.splitlines()]
    topic = world.settings.topic_events
    assert [f"User:{partner}", "topic", topic, "WRITE", "ALLOW"] in rows
    assert [f"User:{partner}", "topic", topic, "DESCRIBE", "ALLOW"] in rows
    assert not any(row[0] == f"User:{partner}" and "READ" in row for row in rows)

    again = runner.invoke(app, ["partners", "add", partner], env=env)
    assert again.exit_code == 1 and "has Kafka credentials already" in again.output
    revoked = runner.invoke(app, ["partners", "revoke-kafka", partner], env=env)
    assert revoked.exit_code == 0 and "2 ACLs removed" in revoked.stdout


async def test_the_worker_projects_as_the_projections_principal(
    world: World, principals: Callable[[str], str]
) -> None:
    reader, password = principals("projections"), new_password()
    grant_projections(world.settings, password, principal=reader)
    as_reader = world.settings.model_copy(
        update={"kafka_sasl_username": reader, "kafka_sasl_password": password}
    )
    worker_world = World(as_reader, world.log_dir)
    worker_world.start_worker()
    try:
        world.publish([enrolled(f"p-acl-{n:06d}") for n in range(10, 13)])
        await world.wait()
        assert (await world.outcomes()).participants == 3
    finally:
        worker_world.stop_all()
    log = (world.log_dir / "worker-0.log").read_text()
    assert "AUTHORIZATION" not in log.upper(), log[-2000:]
