"""End-to-end latency: a new enrolment published → its participant row visible in the read model."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import time
from dataclasses import dataclass

import asyncpg
from confluent_kafka import Producer

from refnet.events.publisher import encoded, producer_config
from refnet.events.settings import Settings
from bench.kafka_io import build
from bench.workload import enrolment, pseudonym

_VISIBLE = "SELECT participant_id FROM participants WHERE participant_id = ANY($1::text[])"
POLL_EVERY = 0.005
DRAIN_TIMEOUT = 30.0


@dataclass
class Latency:
    sent: int
    seen: int
    achieved_rate: float
    e2e_ms: list[float]  # publish → row visible, per event seen
    ack_ms: list[float]  # publish → broker confirmation (as served by poll), per event


async def measure(settings: Settings, conn: asyncpg.Connection, rate: float, seconds: float,
                  seed: str) -> Latency:  # fmt: skip
    """Publish enrolments at `rate`/s for `seconds`, polling for their rows concurrently."""
    producer = Producer(producer_config(settings))
    rng = random.Random(seed)
    published: dict[str, float] = {}
    pending: set[str] = set()
    visible: dict[str, float] = {}
    acked: dict[str, float] = {}
    done = asyncio.Event()

    def confirmed(err: object, msg: object) -> None:
        if err is None:
            acked[msg.key().decode()] = time.perf_counter()  # type: ignore[attr-defined]

    async def poll() -> None:
        while not (done.is_set() and not pending):
            if pending:
                rows = await conn.fetch(_VISIBLE, list(pending))
                now = time.perf_counter()
                for row in rows:
                    visible[row["participant_id"]] = now
                    pending.discard(row["participant_id"])
            await asyncio.sleep(POLL_EVERY)

    poller = asyncio.ensure_future(poll())
    total = int(rate * seconds)
    start = time.perf_counter()
    for n in range(total):
        due = start + n / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        pid = pseudonym(f"{seed}-latency", n)
        key, value = encoded(build(enrolment(rng, pid, dt.datetime.now(dt.UTC))))
        published[pid] = time.perf_counter()
        pending.add(pid)
        producer.produce(settings.topic_events, value=value, key=key, on_delivery=confirmed)
        producer.poll(0)
    achieved = total / (time.perf_counter() - start)
    await asyncio.to_thread(producer.flush, 30)
    done.set()
    try:
        await asyncio.wait_for(poller, DRAIN_TIMEOUT)
    except TimeoutError:
        pass
    e2e = [(visible[p] - t) * 1000 for p, t in published.items() if p in visible]
    ack = [(acked[p] - t) * 1000 for p, t in published.items() if p in acked]
    return Latency(total, len(visible), achieved, e2e, ack)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
