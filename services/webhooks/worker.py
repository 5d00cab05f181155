"""The webhook delivery worker: reads the log in a consumer group of its own, enqueues
the notices the projection's work gives rise to, and posts them.

At least once, end to end: the group's offsets are committed only after the notices of
the records before them are in PostgreSQL (idempotently: a webhook id enqueues once),
and a notice leaves the queue only when its endpoint answered 2xx. A record's notices
are judged once the projection has applied it (its stored offset passed the record),
so the worker follows the projection and never runs ahead of what partners can see.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence

import asyncpg
import httpx
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from refnet.events.catalogue import EventModel
from refnet.events.codec import decode
from refnet.events.kafka_client import client_config
from refnet.events.settings import Settings
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.store.schema import PROJECTION
from refnet.services.webhooks.delivery import send_due
from refnet.services.webhooks.metrics import WebhookMetrics
from refnet.services.webhooks.notices import Applied, Notice, for_dead_letter, for_event

log = logging.getLogger(__name__)
POLL = 0.5
QUEUE_EVERY = 5.0  # seconds between reads of the queue's depth for the gauges
# PostgreSQL or the broker gone for a while: the worker waits for them, it does not end.
_TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaException)

_REFERRALS = """
SELECT participant_id, referral_id, from_partner, to_partner, state FROM referrals
WHERE referral_id = any($1::text[])
"""
_ENQUEUE = """
INSERT INTO webhook_deliveries (webhook_id, endpoint_id, notice_type, payload)
SELECT w, e, t, p::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS n(w, e, t, p)
ON CONFLICT DO NOTHING
RETURNING notice_type
"""


async def run_webhooks(
    settings: Settings, stop: asyncio.Event, metrics: WebhookMetrics | None = None
) -> None:
    """Enqueue and deliver until `stop` is set, counting into `metrics` (a fresh set)."""
    metrics = metrics or WebhookMetrics()
    pool = await connect_pool(settings, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, settings.read_model_schema, settings.registry_schema)
    consumer = Consumer(
        client_config(settings)
        | {
            "group.id": settings.webhook_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.topic_events, settings.topic_dead_letter])
    try:
        async with httpx.AsyncClient(timeout=settings.webhook_timeout) as client:
            await asyncio.gather(
                _enqueue_loop(consumer, pool, settings, stop, metrics),
                _send_loop(pool, settings, client, stop, metrics),
            )
    finally:
        await asyncio.to_thread(consumer.close)
        await pool.close()


async def _enqueue_loop(
    consumer: Consumer,
    pool: asyncpg.Pool,
    settings: Settings,
    stop: asyncio.Event,
    metrics: WebhookMetrics,
) -> None:
    pause = POLL
    while not stop.is_set():
        records = await asyncio.to_thread(consumer.consume, 500, POLL)
        records = [r for r in records if r.error() is None]
        if not records:
            continue
        try:
            if not await _until_applied(pool, settings, records, stop):
                return  # stopped while waiting: the records are read again next time
            notices = await _notices(pool, settings, records)
            enqueued = await _enqueue(pool, notices)
            await asyncio.to_thread(consumer.commit, asynchronous=False)
        except _TRANSIENT as exc:
            # Read them again after a pause, still polling (so the group keeps us):
            # reading on would commit over notices never enqueued.
            log.warning("webhooks: %d records again in %.0f s: %r", len(records), pause, exc)
            _rewind(consumer, records)
            await _pause(stop, pause)
            pause = min(pause * 2, 30.0)
            continue
        pause = POLL
        for notice_type, count in enqueued.items():
            metrics.notices.labels(notice_type).inc(count)
        if notices:
            log.info("webhooks: %d notices from %d records", len(notices), len(records))


def _rewind(consumer: Consumer, records: Sequence[Message]) -> None:
    """Seek each partition of `records` back to its first record."""
    first: dict[tuple[str, int], int] = {}
    for record in records:
        where = (record.topic() or "", record.partition() or 0)
        first[where] = min(first.get(where, record.offset() or 0), record.offset() or 0)
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException:
            pass  # no longer ours: its next owner reads it from the committed offset


async def _until_applied(
    pool: asyncpg.Pool, settings: Settings, records: Sequence[Message], stop: asyncio.Event
) -> bool:
    """Wait until the projection has applied every event record of `records`."""
    needed: dict[int, int] = {}
    for record in records:
        if record.topic() == settings.topic_events:
            partition, offset = record.partition() or 0, record.offset() or 0
            needed[partition] = max(needed.get(partition, 0), offset + 1)
    if not needed:
        return True
    told = time.monotonic()
    while not stop.is_set():
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT partition, next_offset FROM projection_offsets "
                "WHERE projection = $1 AND topic = $2",
                PROJECTION, settings.topic_events,
            )  # fmt: skip
        applied = {row["partition"]: row["next_offset"] for row in rows}
        if all(applied.get(p, 0) >= offset for p, offset in needed.items()):
            return True
        if time.monotonic() - told > 30:
            log.info("webhooks: waiting for the projection to apply %s", needed)
            told = time.monotonic()
        await asyncio.sleep(POLL)
    return False


async def _notices(
    pool: asyncpg.Pool, settings: Settings, records: Sequence[Message]
) -> list[Notice]:
    events: list[EventModel] = []
    notices: list[Notice] = []
    now = dt.datetime.now(dt.UTC)
    for record in records:
        value = record.value() or b""
        if record.topic() == settings.topic_dead_letter:
            raw = record.headers() or []
            pairs = raw.items() if isinstance(raw, dict) else raw
            headers = {str(k): _bytes(v) for k, v in pairs}
            notices += for_dead_letter(value, headers, now)
            continue
        try:
            events.append(decode(value))
        except Exception:  # undecodable: the projection parks it, its dead letter tells
            continue
    if not events:
        return notices
    referral_ids = [str(getattr(e.data, "referral_id", "")) for e in events]
    async with pool.acquire() as conn:
        rejected = {
            row[0]
            for row in await conn.fetch(
                "SELECT event_id FROM rejections WHERE event_id = any($1::text[])",
                [str(e.event_id) for e in events],
            )
        }
        referrals = {
            (row["participant_id"], row["referral_id"]): row
            for row in await conn.fetch(_REFERRALS, [r for r in referral_ids if r])
        }
    for event, referral_id in zip(events, referral_ids, strict=True):
        row = referrals.get((event.participant_id, referral_id))
        applied = Applied(
            rejected=str(event.event_id) in rejected,
            referral_from=row["from_partner"] if row else None,
            referral_to=row["to_partner"] if row else None,
            referral_state=row["state"] if row else None,
        )
        notices += for_event(event, applied)
    return notices


def _bytes(value: str | bytes | None) -> bytes:
    return value.encode() if isinstance(value, str) else value or b""


async def _enqueue(pool: asyncpg.Pool, notices: Sequence[Notice]) -> dict[str, int]:
    """Queue each notice for each endpoint of its partner; the rows new to the queue, by
    notice type (records read again after a fault queue nothing twice)."""
    if not notices:
        return {}
    async with pool.acquire() as conn, conn.transaction():
        endpoints = await conn.fetch(
            "SELECT endpoint_id, partner_id FROM webhook_endpoints WHERE partner_id = any($1)",
            sorted({n.partner_id for n in notices}),
        )
        rows = [
            (n.webhook_id, e["endpoint_id"], n.type, json.dumps(n.payload))
            for n in notices
            for e in endpoints
            if e["partner_id"] == n.partner_id
        ]
        if not rows:
            return {}
        queued = await conn.fetch(_ENQUEUE, *(list(column) for column in zip(*rows, strict=True)))
    return dict(Counter(row["notice_type"] for row in queued))


async def _send_loop(
    pool: asyncpg.Pool,
    settings: Settings,
    client: httpx.AsyncClient,
    stop: asyncio.Event,
    metrics: WebhookMetrics,
) -> None:
    read_at = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() - read_at > QUEUE_EVERY:
                async with pool.acquire() as conn:
                    await metrics.read_queue(conn)
                read_at = time.monotonic()
            tried = await send_due(pool, settings, client, metrics)
        except _TRANSIENT as exc:
            log.warning("webhooks: the delivery queue is unavailable: %r", exc)
            tried = 0
        if not tried:
            await _pause(stop, POLL)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
