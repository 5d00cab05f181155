"""CloudEvents on every record (Kafka protocol binding, binary content mode).

Real broker: records written by the Python client, by the API's gateway and by
the projection's dead-letter path are read back with the CloudEvents SDK's Kafka
binding and with `kcat`, and give back the same events; the values stay the
signed canonical JSON, so the projection counts them and verify holds them.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import httpx
import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from fastapi import FastAPI

from refnet.events.catalogue import EventModel
from refnet.events.cloudevents import HEADERS
from refnet.events.codec import decode
from tests.integration.test_ingestion import auth, body, token
from tests.integration.world import LogRecord, World, enrolled, new_pid

pytestmark = pytest.mark.integration


def as_cloudevent(record: LogRecord) -> tuple[EventModel, dict[str, object]]:
    """The record read by the SDK: the event its data holds, and its attributes."""
    key, value, headers = record
    event = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))
    data = event.get_data()
    assert isinstance(data, dict), data
    return decode(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)), event.get_attributes()


async def test_every_record_carries_cloudevents_headers_the_sdk_reads_back(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    world.start_worker()
    by_client = [enrolled(new_pid("ce"), partner="awo-en"), enrolled(new_pid("ce"))]
    world.publish(by_client)
    over_http = enrolled(new_pid("ce"), partner="awo-en")
    answer = await client.post("/v1/events", json=body(over_http), headers=auth(await token(app)))
    assert answer.status_code == 202, answer.text
    parked = enrolled(new_pid("ce"), partner="awo-en")  # unsigned: parked as a dead letter
    world.publish_unsigned([parked])
    await world.wait()

    records = world.read_records()
    assert len(records) == 4
    seen: dict[str, EventModel] = {}
    for record in records:
        event, attributes = as_cloudevent(record)
        assert [name for name, _ in record[2]] == list(HEADERS)
        assert attributes["specversion"] == "1.0"
        assert attributes["id"] == str(event.event_id)
        assert attributes["source"] == f"/partners/{event.partner_id}"
        assert attributes["type"] == f"refnet.{event.type}.v{event.schema_version}"
        assert attributes["subject"] == event.participant_id == record[0].decode()
        assert attributes["time"] == event.occurred_at
        assert attributes["datacontenttype"] == "application/json"
        seen[str(event.event_id)] = event
    sent = [*by_client, over_http, parked]
    assert set(seen) == {str(e.event_id) for e in sent}
    # The value is unchanged: the events decode as sent (the gateway and the client
    # added their signatures), and the projection counted all but the unsigned one.
    for original in sent:
        assert seen[str(original.event_id)].data == original.data
    assert (await world.outcomes()).participants == 3

    # The dead letter keeps its reason headers and adds the event's CloudEvents ones.
    [letter] = world.read_records(world.settings.topic_dead_letter)
    names = [name for name, _ in letter[2]]
    assert names == [*HEADERS, "refnet-reason", "refnet-source"]
    event, attributes = as_cloudevent(letter)
    assert event.event_id == parked.event_id and attributes["id"] == str(parked.event_id)


def test_kcat_prints_the_headers_of_each_record(world: World) -> None:
    kcat = shutil.which("kcat")
    if kcat is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("kcat is missing under CI: `make kcat` installs Debian's kcat")
        pytest.skip("kcat is not installed (`make kcat`)")
    events = [enrolled(new_pid("kc")) for _ in range(3)]
    world.publish(events)
    done = subprocess.run(
        [kcat, "-C", "-b", world.settings.kafka_bootstrap, "-t", world.settings.topic_events,
         "-o", "beginning", "-e", "-q", "-f", "%h\\n"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line]
    assert len(lines) == 3
    for event in events:
        line = next(line for line in lines if f"ce_id={event.event_id}" in line)
        headers = dict(pair.split("=", 1) for pair in line.split(","))
        assert list(headers) == list(HEADERS)
        assert headers["ce_type"] == "refnet.participant.enrolled.v1"
        assert headers["ce_source"] == f"/partners/{event.partner_id}"
        assert headers["ce_subject"] == event.participant_id
