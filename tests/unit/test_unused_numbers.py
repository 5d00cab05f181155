"""The Python client's journal of reservations and its reports of unused numbers, no broker."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError

from refnet.events.catalogue import EventModel
from refnet.events.codec import validate
from refnet.events.errors import PublishFailed
from refnet.events.publisher import Publisher
from refnet.events.settings import Settings
from refnet.events.signing import FileSequence, Signer, SigningKey
from refnet.events.unused_numbers import ABANDONED_BY_CLIENT
from tests.unit.examples import valid_example


class FakeLedger:
    """Keeps what it is told; `broken` makes every report fail, as a database down would."""

    def __init__(self, broken: bool = False) -> None:
        self.recorded: list[tuple[str, list[tuple[int, int]], str]] = []
        self.broken = broken

    def record_unused(
        self, publisher_id: str, spans: Sequence[tuple[int, int]], reason: str
    ) -> None:
        if self.broken:
            raise ConnectionError("registry unreachable")
        self.recorded.append((publisher_id, list(spans), reason))


class _Message:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def key(self) -> bytes:
        return self._key


class FakeProducer:
    """Confirms every record at flush, or refuses every one."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.pending: list[tuple[Callable[..., None], bytes]] = []
        self.delivered: list[bytes] = []
        self.headers: list[list[tuple[str, bytes]]] = []

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes,
        on_delivery: Callable[..., None],
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self.pending.append((on_delivery, value))
        self.headers.append(headers or [])

    def flush(self, timeout: float) -> int:
        for callback, value in self.pending:
            if self.refuse:
                callback(KafkaError(KafkaError._MSG_TIMED_OUT), _Message(b"k"))
            else:
                self.delivered.append(value)
                callback(None, _Message(b"k"))
        self.pending.clear()
        return 0

    def poll(self, timeout: float) -> int:
        return 0


def events(count: int) -> list[EventModel]:
    base = valid_example("participant.enrolled") | {"partner_id": "awo-en"}
    return [
        validate(base | {"event_id": f"00000000-0000-4000-8000-{n:012d}"}) for n in range(count)
    ]


def signer_at(path: Path) -> Signer:
    return Signer(SigningKey.generate(), "awo-en", FileSequence(path))


def publisher(producer: FakeProducer, signer: Signer, ledger: FakeLedger | None) -> Publisher:
    fake: Any = producer
    return Publisher(Settings(), producer=fake, signer_for=lambda _p: signer, ledger=ledger)


def open_spans(path: Path) -> list[tuple[int, int]]:
    return [(e["first"], e["end"]) for e in json.loads(path.read_text())["open"]]


def gone_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_a_reservation_is_open_until_settled(tmp_path: Path) -> None:
    sequence = FileSequence(tmp_path / "awo-en.sequence")
    first = sequence.reserve(3)
    assert open_spans(tmp_path / "awo-en.sequence") == [(0, 3)]
    second = sequence.reserve(2)
    sequence.settle(first)
    assert open_spans(tmp_path / "awo-en.sequence") == [(second, second + 2)]
    # Open, but held by this live process: nothing is left behind yet.
    assert FileSequence(tmp_path / "awo-en.sequence").left_behind() == []


def test_a_gone_process_s_open_reservation_is_left_behind(tmp_path: Path) -> None:
    path = tmp_path / "awo-en.sequence"
    crashed = {"first": 4, "end": 7, "pid": gone_pid(), "holder": "crashed"}
    path.write_text(json.dumps({"next": 7, "open": [crashed]}))
    assert FileSequence(path).left_behind() == [(4, 6)]


def test_a_confirmed_publish_closes_its_reservation(tmp_path: Path) -> None:
    path = tmp_path / "awo-en.sequence"
    ledger = FakeLedger()
    publisher(FakeProducer(), signer_at(path), ledger).publish(events(3))
    assert open_spans(path) == []
    assert ledger.recorded == []


def test_a_refused_publish_is_reported_unused_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "awo-en.sequence"
    ledger = FakeLedger()
    with pytest.raises(PublishFailed):
        publisher(FakeProducer(refuse=True), signer_at(path), ledger).publish(events(2))
    [(publisher_id, spans, reason)] = ledger.recorded
    assert (publisher_id, spans) == ("awo-en", [(0, 1)])
    assert reason.startswith("publish not confirmed: 2 of 2 events not confirmed")
    assert open_spans(path) == []


def test_without_a_ledger_a_refused_publish_stays_open(tmp_path: Path) -> None:
    path = tmp_path / "awo-en.sequence"
    with pytest.raises(PublishFailed):
        publisher(FakeProducer(refuse=True), signer_at(path), None).publish(events(2))
    assert open_spans(path) == [(0, 2)]
    broken = FakeLedger(broken=True)
    with pytest.raises(PublishFailed):
        publisher(FakeProducer(refuse=True), signer_at(path), broken).publish(events(1))
    assert open_spans(path) == [(0, 2), (2, 3)]  # not recorded: still open for a later report


def test_the_next_start_reports_what_a_crashed_client_left_open(tmp_path: Path) -> None:
    path = tmp_path / "awo-en.sequence"
    crashed = {"first": 0, "end": 5, "pid": gone_pid(), "holder": "crashed"}
    path.write_text(json.dumps({"next": 5, "open": [crashed]}))
    ledger = FakeLedger()
    client = publisher(FakeProducer(), signer_at(path), ledger)
    client.publish(events(1))
    client.publish(events(1))  # reported once per publisher, not at each publish
    assert ledger.recorded == [("awo-en", [(0, 4)], ABANDONED_BY_CLIENT)]
    assert open_spans(path) == []
    assert json.loads(path.read_text())["next"] == 7
