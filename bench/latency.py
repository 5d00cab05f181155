"""End-to-end latency: a new enrolment published → its participant row visible in the read model."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import time
from dataclasses import dataclass

import asyncpg
from confluent_kafka import Message, Producer

from bench.kafka_io import build
from bench.workload import enrolment, pseudonym
from refnet.events.keystore import LocalKeys
from refnet.events.publisher import producer_config
from refnet.events.settings import Settings

_VISIBLE = "SELECT participant_id FROM participants WHERE participant_id = ANY($1::text[])"
DRAIN_TIMEOUT = 30.0
SEQUENCE_BLOCK = 1000
WARM_UP = 20  # events published and seen before the clock starts (connections, assignment)


@dataclass
class Latency:
    sent: int
    seen: int
    achieved_rate: float
    e2e_ms: list[float]  # publish → row visible, per event seen
    ack_ms: list[float]  # publish → broker confirmation (as served by poll), per event
    per_second: list[tuple[float, float, int]]  # each second of the probe: p50, max, seen


class Probe:
    """Publishes enrolments of new participants and watches for their rows."""

    def __init__(self, settings: Settings, conn: asyncpg.Connection, seed: str, poll: float):
        self.topic = settings.topic_events
        self.producer = Producer(producer_config(settings))
        self.keys = LocalKeys(settings.keys_dir)
        self.conn = conn
        self.seed = seed
        self.poll_every = poll
        self.rng = random.Random(seed)
        self.sent = 0
        self.published: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.visible: dict[str, float] = {}
        self.pending: set[str] = set()
        self.numbers: dict[str, list[int]] = {}

    def _confirmed(self, err: object, msg: Message) -> None:
        key = msg.key()
        if err is None and isinstance(key, bytes):
            self.acked[key.decode()] = time.perf_counter()

    def _number(self, partner_id: str) -> int:
        """The partner's next number, reserved 1,000 at a time as the gateway does.

        One file write per event would put the sequence file, not the pipeline,
        on the clock. The probe accounts for no failures: each block is settled at once.
        """
        numbers = self.numbers.get(partner_id)
        if not numbers:
            signer = self.keys.signer(partner_id)
            first = signer.reserve(SEQUENCE_BLOCK)
            signer.settle(first)
            numbers = self.numbers[partner_id] = list(
                range(first + SEQUENCE_BLOCK - 1, first - 1, -1)
            )
        return numbers.pop()

    def publish_one(self) -> None:
        pid = pseudonym(f"{self.seed}-latency", self.sent)
        self.sent += 1
        event = build(enrolment(self.rng, pid, dt.datetime.now(dt.UTC)))
        signer = self.keys.signer(event.partner_id)
        key, value = pid.encode(), signer.encode_at(event, self._number(event.partner_id))
        self.published[pid] = time.perf_counter()
        self.pending.add(pid)
        self.producer.produce(self.topic, value=value, key=key, on_delivery=self._confirmed)
        self.producer.poll(0)

    async def watch(self, done: asyncio.Event) -> None:
        """Poll for pending rows every `poll_every` s until `done` and none pending."""
        while not (done.is_set() and not self.pending):
            if self.pending:
                rows = await self.conn.fetch(_VISIBLE, list(self.pending))
                now = time.perf_counter()
                for row in rows:
                    self.visible[row["participant_id"]] = now
                    self.pending.discard(row["participant_id"])
            await asyncio.sleep(self.poll_every)

    async def drain(self, timeout: float) -> None:
        await asyncio.to_thread(self.producer.flush, 30)
        done = asyncio.Event()
        done.set()
        try:
            await asyncio.wait_for(self.watch(done), timeout)
        except TimeoutError:
            pass

    def forget(self) -> None:
        self.published.clear()
        self.acked.clear()
        self.visible.clear()
        self.pending.clear()


async def measure(
    settings: Settings,
    conn: asyncpg.Connection,
    rate: float,
    seconds: float,
    seed: str,
    poll: float = 0.005,
) -> Latency:
    """Publish enrolments at `rate`/s for `seconds` (sleep-paced), polling rows concurrently."""
    probe = Probe(settings, conn, seed, poll)
    for _ in range(WARM_UP):
        probe.publish_one()
    await probe.drain(DRAIN_TIMEOUT)
    if probe.pending:
        raise RuntimeError("warm-up events never became visible: is the worker running?")
    probe.forget()

    done = asyncio.Event()
    watcher = asyncio.ensure_future(probe.watch(done))
    total = int(rate * seconds)
    start = time.perf_counter()
    for n in range(total):
        if (wait := start + n / rate - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        probe.publish_one()
    achieved = total / (time.perf_counter() - start)
    await asyncio.to_thread(probe.producer.flush, 30)
    done.set()
    try:
        await asyncio.wait_for(watcher, DRAIN_TIMEOUT)
    except TimeoutError:
        pass
    return _summary(probe, start, total, achieved)


def _summary(probe: Probe, start: float, total: int, achieved: float) -> Latency:
    seen = {
        p: (probe.visible[p] - t) * 1000 for p, t in probe.published.items() if p in probe.visible
    }
    ack = [(probe.acked[p] - t) * 1000 for p, t in probe.published.items() if p in probe.acked]
    seconds_of: dict[int, list[float]] = {}
    for p, ms in seen.items():
        seconds_of.setdefault(int(probe.published[p] - start), []).append(ms)
    per_second = [(percentile(v, 50), max(v), len(v)) for _, v in sorted(seconds_of.items())]
    return Latency(total, len(seen), achieved, list(seen.values()), ack, per_second)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
