"""`refnet privacy scan` end to end: a world's real log, then records planted past every door.

The planted records go straight onto the topic with confluent-kafka (no gateway, no
publisher, no validation), as a careless or hostile producer would write them; the scan
must find each one at its offset, exit 1, and never print the value it found in full.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from refnet.events import catalogue as c
from refnet.events import vocabulary as v
from refnet.events.codec import encode
from refnet.events.contact import ContactDetails
from refnet.events.sealing import new_data_key, seal_contact
from refnet.projections.worker.log_reader import read_log
from refnet.services.localstack.process import settings_env
from tests.integration.world import (
    T0,
    World,
    enrolled,
    envelope,
    history,
    new_pid,
    retracted,
    show_in_terminal,
)

pytestmark = pytest.mark.integration

PHONE = "+49 176 1234567"


def scan(world: World, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`refnet privacy scan ARGS` as its own process, with the world's settings."""
    argv = [sys.executable, "-m", "refnet.services.cli.main", "privacy", "scan", *args]
    environment = settings_env(world.settings) | {"COLUMNS": "200"} | env
    return subprocess.run(
        argv, env=environment, capture_output=True, text=True, timeout=240, check=False
    )


def sealed_contact(person: str, partner: str = "awo-en") -> c.ContactRecorded:
    """A contact event as the doors make it: the details only as ciphertext."""
    fields = envelope(person, partner, T0 + dt.timedelta(hours=1))
    details = ContactDetails(name="Ayşe Yılmaz", phone=PHONE, email="ayse@example.org")
    sealed = seal_contact(
        new_data_key(),
        details,
        event_id=str(fields["event_id"]),
        participant_id=person,
        partner_id=partner,
    )
    return c.ContactRecorded(**fields, data=c.ContactRecordedData(sealed=sealed))


def consent(person: str) -> c.ConsentGiven:
    data = c.ConsentData(purpose=v.ConsentPurpose.PASS_CONTACT_DETAILS, recipient="bobeq")
    return c.ConsentGiven(**envelope(person, "awo-en", T0 + dt.timedelta(hours=2)), data=data)


def clean_history(world: World) -> int:
    people = [new_pid("s") for _ in range(20)]
    events: list[c.EventModel] = [enrolled(p) for p in people]
    events += [sealed_contact(p) for p in people[:10]]
    events += [consent(p) for p in people[:10]]
    events.append(retracted(events[-1], T0 + dt.timedelta(days=1)))
    assert world.publish(events) == len(events)
    return len(events)


def offsets_of(world: World) -> dict[str, tuple[int, int]]:
    """(partition, offset) of every record by its event id."""
    found: dict[str, tuple[int, int]] = {}
    for record in read_log(world.settings):
        document = json.loads(record.value or b"{}")
        found[document.get("event_id", "")] = (record.partition, record.offset)
    return found


def test_a_clean_log_scans_clean(world: World, request: Any) -> None:
    published = clean_history(world)
    # Some thousands more, so that the rate printed says something about the scan.
    bulk = history(3000, new_pid("b"))
    assert world.publish(bulk) == len(bulk)
    published += len(bulk)
    done = scan(world)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{published:,} records" in done.stdout
    assert "CLEAN" in done.stdout
    rate = re.search(r"scanned .* events/s", done.stdout)
    assert rate is not None, done.stdout
    show_in_terminal(request, [f"privacy scan, clean log of {published} events: {rate.group()}"])


def test_a_planted_phone_number_is_found_at_its_offset(world: World, request: Any) -> None:
    clean_history(world)
    person = new_pid("s")
    # A retraction whose reason holds a phone number, written past every door.
    planted = encode(retracted(enrolled(person), T0 + dt.timedelta(days=1)))
    planted_id = json.loads(planted)["event_id"]
    world.publish_raw(person.encode(), planted.replace(b"recorded in error", PHONE.encode()))
    # A contact event with its details in clear instead of sealed.
    clear = json.loads(encode(sealed_contact(person)))
    clear["data"] = {"contact": {"name": "Ayşe Yılmaz", "phone": "0176/1234567"}}
    world.publish_raw(person.encode(), json.dumps(clear).encode())
    where = offsets_of(world)

    done = scan(world)
    assert done.returncode == 1, done.stdout + done.stderr
    partition, offset = where[planted_id]
    line = next(ln for ln in done.stdout.splitlines() if planted_id in ln)
    assert f"partition {partition} offset {offset} event {planted_id}" in line
    assert "data.reason: phone number +49 1** *****67" in line
    contact_partition, contact_offset = where[clear["event_id"]]
    assert f"partition {contact_partition} offset {contact_offset}" in done.stdout
    assert "contact details outside a ciphertext" in done.stdout
    assert "1234567" not in done.stdout and "Yılmaz" not in done.stdout  # masked, always

    report = json.loads(scan(world, "--json").stdout)
    assert report["clean"] is False and report["records_with_findings"] == 2
    found = {(f["partition"], f["offset"], f["field"], f["kind"]) for f in report["findings"]}
    assert (partition, offset, "data.reason", "phone number") in found
    assert (
        contact_partition,
        contact_offset,
        "data",
        "contact details outside a ciphertext",
    ) in found
    assert (contact_partition, contact_offset, "data.contact.phone", "phone number") in found
    rate = f"{report['records']} records at {report['events_per_second']:,.0f} events/s"
    show_in_terminal(request, [f"privacy scan with findings: {rate}"])


def test_undecodable_records_are_scanned_as_text(world: World) -> None:
    world.publish_raw(b"k", b"\xff\xfe not an event, call 0231 1234567")
    report = json.loads(scan(world, "--json").stdout)
    assert report["undecodable"] == 1
    assert [(f["field"], f["kind"]) for f in report["findings"]] == [("value", "phone number")]


def test_an_unreachable_broker_is_exit_2(world: World) -> None:
    done = scan(world, REFNET_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: could not scan:"), done.stderr
    assert "Traceback" not in done.stderr
