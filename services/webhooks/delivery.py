"""Posting the notices owed: signed by the Standard Webhooks scheme, retried with
exponential backoff, and an endpoint disabled after a day of failures.

Delivery is at least once: a notice is marked delivered only after its endpoint
answered 2xx, so a receiver must treat a `webhook-id` seen before as done. Several
senders may run at once; each takes the rows it posts with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass

import asyncpg
import httpx
from standardwebhooks.webhooks import Webhook

from refnet.events.settings import Settings
from refnet.services.webhooks.metrics import WebhookMetrics

log = logging.getLogger(__name__)
BATCH = 50

_DUE = """
SELECT d.endpoint_id, d.webhook_id, d.payload::text AS body, d.attempts, e.url, e.secret,
       e.partner_id
FROM webhook_deliveries d JOIN webhook_endpoints e USING (endpoint_id)
WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND e.disabled_at IS NULL
ORDER BY d.next_attempt_at
LIMIT $1
FOR UPDATE OF d SKIP LOCKED
"""
_DELIVERED = """
UPDATE webhook_deliveries
SET state = 'delivered', attempts = attempts + 1, last_attempt_at = now(), last_status = $3,
    last_error = NULL, delivered_at = now()
WHERE endpoint_id = $1 AND webhook_id = $2
"""
_FAILED = """
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_attempt_at = now(), last_status = $3, last_error = $4,
    next_attempt_at = now() + make_interval(secs => $5)
WHERE endpoint_id = $1 AND webhook_id = $2
"""
_ENDPOINT_OK = "UPDATE webhook_endpoints SET failing_since = NULL WHERE endpoint_id = $1"
_ENDPOINT_FAILED = """
UPDATE webhook_endpoints
SET failing_since = coalesce(failing_since, now()),
    disabled_at = CASE WHEN now() - coalesce(failing_since, now()) >= make_interval(secs => $2)
                       THEN now() END
WHERE endpoint_id = $1 AND disabled_at IS NULL
RETURNING disabled_at
"""


@dataclass(frozen=True)
class Attempt:
    endpoint_id: str
    webhook_id: str
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def backoff(attempts: int, settings: Settings) -> float:
    """Seconds until the next try after `attempts` failed ones: doubling, capped."""
    return float(min(settings.webhook_retry_base * 2 ** (attempts - 1), settings.webhook_retry_cap))


def signed_headers(secret: str, webhook_id: str, body: str, at: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one notice."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
        "content-type": "application/json",
        "user-agent": "RefNet-Webhooks",
    }


async def _post(client: httpx.AsyncClient, row: asyncpg.Record, metrics: WebhookMetrics) -> Attempt:
    headers = signed_headers(row["secret"], row["webhook_id"], row["body"], dt.datetime.now(dt.UTC))
    started = time.perf_counter()
    try:
        answer = await client.post(row["url"], content=row["body"].encode(), headers=headers)
    except httpx.HTTPError as exc:
        return Attempt(
            row["endpoint_id"], row["webhook_id"], None, f"{type(exc).__name__}: {exc}"[:300]
        )
    finally:
        metrics.post_seconds.observe(time.perf_counter() - started)
    error = None if answer.is_success else f"HTTP {answer.status_code}"
    return Attempt(row["endpoint_id"], row["webhook_id"], answer.status_code, error)


async def send_due(
    pool: asyncpg.Pool,
    settings: Settings,
    client: httpx.AsyncClient,
    metrics: WebhookMetrics,
) -> int:
    """Post every notice that is due (up to BATCH); return how many were tried."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_DUE, BATCH)
        if not rows:
            return 0
        attempts = await asyncio.gather(*(_post(client, row, metrics) for row in rows))
        for row, attempt in zip(rows, attempts, strict=True):
            key = (attempt.endpoint_id, attempt.webhook_id)
            metrics.deliveries.labels("delivered" if attempt.ok else "failed").inc()
            if attempt.ok:
                await conn.execute(_DELIVERED, *key, attempt.status)
                await conn.execute(_ENDPOINT_OK, attempt.endpoint_id)
                continue
            delay = backoff(row["attempts"] + 1, settings)
            await conn.execute(_FAILED, *key, attempt.status, attempt.error, delay)
            disabled = await conn.fetchval(
                _ENDPOINT_FAILED, attempt.endpoint_id, settings.webhook_disable_after
            )
            if disabled is not None:
                metrics.disabled.inc()
                log.warning(
                    "webhook endpoint %s of %s disabled: failing for %.0f s (%s)",
                    attempt.endpoint_id, row["partner_id"], settings.webhook_disable_after,
                    attempt.error,
                )  # fmt: skip
    return len(rows)
