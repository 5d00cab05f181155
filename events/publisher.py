"""Publishing events to the shared log with confluent-kafka.

Every event is validated (it is a model), encoded canonically, keyed by its
participant pseudonym so that one participant's events stay in order, and
sent with idempotence and `acks=all`. A publish returns only once the broker
has confirmed every event, or raises `PublishFailed` naming those it did not.
Given a way to find each partner's `Signer`, every event is signed on the way,
and a reservation is closed in the signer's journal only once its numbers are
confirmed or reported unused to the ledger.

At the door, `Publisher.publish` seals every `participant.contact_recorded`
given in clear (`ClearContactRecorded`) under its participant's data key from
the `DataKeyStore` it was handed, before anything is signed, and refuses free
text that holds personal data (`events/pii.py`): the log never sees either.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from refnet.events.catalogue import EventModel
from refnet.events.cloudevents import headers_of_value
from refnet.events.codec import encode
from refnet.events.contact import ClearContactRecorded
from refnet.events.errors import EventInvalid, Problem, PublishFailed
from refnet.events.kafka_client import client_config
from refnet.events.pii import pii_problems
from refnet.events.sealing import DataKeyStore, seal_events
from refnet.events.settings import Settings
from refnet.events.signing import Signer
from refnet.events.unused_numbers import ABANDONED_BY_CLIENT, UnusedLedger

log = logging.getLogger(__name__)

SignerFor = Callable[[str], Signer]
"""Finds the signer for a partner id (e.g. `LocalKeys.signer`)."""


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings for a safe producer: idempotent, acks from all in-sync replicas."""
    config: dict[str, Any] = client_config(settings) | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "message.timeout.ms": 30_000,
        "queue.buffering.max.messages": 500_000,
    }
    config.update(overrides)
    return config


@dataclass
class DeliveryReport:
    """What the broker confirmed: counts, and the first failures by event id."""

    delivered: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def encoded(event: EventModel) -> tuple[bytes, bytes]:
    """The (key, value) pair an event is written as."""
    return event.participant_id.encode(), encode(event)


@dataclass(frozen=True)
class Reservation:
    """Numbers one signer reserved for one publish."""

    signer: Signer
    first: int
    count: int

    @property
    def span(self) -> tuple[int, int]:
        return self.first, self.first + self.count - 1


def signed_batch(
    events: Iterable[EventModel], signer_for: SignerFor
) -> tuple[list[tuple[bytes, bytes]], list[Reservation]]:
    """(key, value) pairs of `events`, each signed by its partner's signer, and the reservations.

    Sequence numbers are reserved per signer for the whole batch up front, so a
    failure part-way leaves unused numbers in a publisher's sequence, never a repeat.
    Each signer's events are batch-signed together (one Ed25519 signature per
    `Signer.batch_size` events); the records keep the order of `events`.
    """
    batch = list(events)
    mine: dict[str, list[int]] = {}  # partner id -> indexes of its events in `batch`
    for n, event in enumerate(batch):
        mine.setdefault(event.partner_id, []).append(n)
    reserved = []
    values: list[bytes] = [b""] * len(batch)
    for partner, indexes in mine.items():
        signer = signer_for(partner)
        first = signer.reserve(len(indexes))
        reserved.append(Reservation(signer, first, len(indexes)))
        encoded_values = signer.encode_many(
            [batch[n] for n in indexes], range(first, first + len(indexes))
        )
        for n, value in zip(indexes, encoded_values, strict=True):
            values[n] = value
    records = [(e.participant_id.encode(), v) for e, v in zip(batch, values, strict=True)]
    return records, reserved


def signed_records(
    events: Iterable[EventModel], signer_for: SignerFor
) -> list[tuple[bytes, bytes]]:
    """`signed_batch`'s records, for callers that publish them on their own."""
    return signed_batch(events, signer_for)[0]


class Publisher:
    """A synchronous publisher for scripts, the CLI and the demo.

    Given a `ledger`, it reports the numbers of a publish the broker did not
    confirm, and, once per signer, the open reservations a gone process left.
    """

    def __init__(
        self,
        settings: Settings,
        producer: Producer | None = None,
        signer_for: SignerFor | None = None,
        ledger: UnusedLedger | None = None,
        data_keys: DataKeyStore | None = None,
    ) -> None:
        self._topic = settings.topic_events
        self._producer = producer or Producer(producer_config(settings))
        self._signer_for = signer_for
        self._ledger = ledger
        self._data_keys = data_keys
        self._swept: set[str] = set()  # publisher ids whose left-behind numbers were reported

    def publish(
        self,
        events: Iterable[EventModel | ClearContactRecorded],
        on_delivered: Callable[[int], None] | None = None,
        timeout: float = 60.0,
    ) -> DeliveryReport:
        """Send `events` (sealed, checked, signed if this publisher signs) and wait for
        every confirmation; EventInvalid before anything is sent if one cannot go."""
        batch = self._at_the_door(events)
        if self._signer_for is None:
            return self.publish_encoded((encoded(e) for e in batch), on_delivered, timeout)
        records, reserved = signed_batch(batch, self._signer_for)
        self._report_left_behind(reserved)
        try:
            report = self.publish_encoded(records, on_delivered, timeout)
        except PublishFailed as exc:
            # Some may be on the log after all: verify counts a number it finds as used.
            for reservation in reserved:
                self._report(
                    reservation.signer, [reservation.span], f"publish not confirmed: {exc}"
                )
            raise
        for reservation in reserved:
            reservation.signer.settle(reservation.first)
        return report

    def _at_the_door(self, events: Iterable[EventModel | ClearContactRecorded]) -> list[EventModel]:
        """`events` with contact details sealed; EventInvalid naming any personal free text."""
        given = list(events)
        if any(isinstance(e, ClearContactRecorded) for e in given):
            if self._data_keys is None:
                reason = "contact details are sealed before publishing: give the Publisher a "
                raise EventInvalid([Problem("data.contact", reason + "data_keys store")])
            # A thread of its own: the caller may itself be inside an event loop.
            with ThreadPoolExecutor(1) as pool:
                batch = pool.submit(asyncio.run, seal_events(given, self._data_keys)).result()
        else:
            batch = [e for e in given if not isinstance(e, ClearContactRecorded)]
        problems = [
            Problem(f"events[{n}].{p.field}", p.reason)
            for n, event in enumerate(batch)
            for p in pii_problems(event)
        ]
        if problems:
            raise EventInvalid(problems)
        return batch

    def _report_left_behind(self, reserved: Iterable[Reservation]) -> None:
        if self._ledger is None:
            return
        for reservation in reserved:
            signer = reservation.signer
            if signer.publisher_id not in self._swept:
                self._swept.add(signer.publisher_id)
                self._report(signer, signer.left_behind(), ABANDONED_BY_CLIENT)

    def _report(self, signer: Signer, spans: list[tuple[int, int]], reason: str) -> None:
        """Report `spans` unused and close their reservations; without a ledger they stay open."""
        if self._ledger is None or not spans:
            return
        try:
            self._ledger.record_unused(signer.publisher_id, spans, reason)
        except Exception as exc:  # left open: the next process with a ledger reports them
            log.warning("unused numbers of %s not recorded: %s", signer.publisher_id, exc)
            return
        for first, _last in spans:
            signer.settle(first)

    def publish_encoded(
        self,
        records: Iterable[tuple[bytes, bytes]],
        on_delivered: Callable[[int], None] | None = None,
        timeout: float = 60.0,
    ) -> DeliveryReport:
        """Send already-encoded (key, value) pairs; used where bytes are the input."""
        report = DeliveryReport()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                report.delivered += 1
                if on_delivered is not None:
                    on_delivered(1)
            elif len(report.failed) < 100:
                report.failed[_key_of(msg)] = str(err)
            else:
                report.failed.setdefault("...", "more failures not listed")

        sent = 0
        for key, value in records:
            self._send(key, value, delivered)
            sent += 1
        remaining = self._producer.flush(timeout)
        if remaining or report.failed or report.delivered != sent:
            raise PublishFailed(
                f"{sent - report.delivered} of {sent} events not confirmed by the broker"
                + (f": {next(iter(report.failed.values()))}" if report.failed else "")
            )
        return report

    def _send(self, key: bytes, value: bytes, callback: Callable[..., None]) -> None:
        produce(
            self._producer,
            self._topic,
            value=value,
            key=key,
            headers=headers_of_value(value),
            on_delivery=callback,
        )


def try_produce(producer: Producer, topic: str, **message: Any) -> bool:
    """Queue one message; False when librdkafka's local queue is full (nothing was queued)."""
    try:
        producer.produce(topic, **message)
    except BufferError:
        return False
    return True


def produce(producer: Producer, topic: str, **message: Any) -> None:
    """Queue one message, serving delivery reports while the local queue is full."""
    while not try_produce(producer, topic, **message):
        producer.poll(0.1)  # the reports free the room the queue needs


def _key_of(msg: Message) -> str:
    key = msg.key()
    return key.decode() if isinstance(key, bytes) else str(key)


class AsyncPublisher:
    """An asyncio publisher for the API: each call returns once its own events are confirmed.

    One librdkafka producer is shared by all requests; a thread serves its
    delivery reports and settles each event's future on the event loop, so a
    request waits for its own events only, never for a flush of everyone's.
    """

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self._topic = settings.topic_events
        self._producer = Producer(producer_config(settings, **overrides))
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, daemon=True)
        self._poller.start()

    def _serve_reports(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.05)

    async def publish(self, events: Sequence[EventModel]) -> int:
        """Send `events` unchanged; return how many the broker confirmed, or raise."""
        return await self.publish_encoded([encoded(e) for e in events])

    async def publish_encoded(self, records: Sequence[tuple[bytes, bytes]]) -> int:
        """Send (key, value) pairs; return how many the broker confirmed, or raise."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for key, value in records:
            future: asyncio.Future[None] = loop.create_future()
            report = functools.partial(_settle_from_thread, loop, future)
            headers = headers_of_value(value)
            while not try_produce(
                self._producer, self._topic, value=value, key=key, headers=headers,
                on_delivery=report,
            ):  # fmt: skip
                await asyncio.sleep(0.01)  # the local queue is full; the poller thread drains it
            futures.append(future)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise PublishFailed(
                f"{len(failed)} of {len(records)} events not confirmed by the broker: {failed[0]}"
            )
        return len(records)

    async def close(self) -> None:
        await asyncio.to_thread(self._producer.flush, 10)
        self._stopping.set()
        await asyncio.to_thread(self._poller.join)


def _settle_from_thread(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[None],
    err: KafkaError | None,
    _msg: Message,
) -> None:
    loop.call_soon_threadsafe(_settle, future, err)


def _settle(future: asyncio.Future[None], err: KafkaError | None) -> None:
    if future.done():  # the request was cancelled meanwhile
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(PublishFailed(str(err)))
