"""Partners' webhook endpoints: registered, listed, removed, re-enabled; and their log.

Each endpoint gets its own Standard Webhooks secret (`whsec_` and 32 random bytes in
base64), shown once when it is added; the receiver verifies every notice with it.

    RefNetError                  (refnet.events.errors)
    └── WebhookError             an endpoint could not be added or found
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from refnet.events.errors import RefNetError
from refnet.events.fields import is_slug
from refnet.projections.store.database import Conn


class WebhookError(RefNetError):
    """A webhook endpoint could not be added, found or changed."""


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    partner_id: str
    url: str
    secret: str
    created_at: dt.datetime
    failing_since: dt.datetime | None
    disabled_at: dt.datetime | None


@dataclass(frozen=True)
class Delivery:
    """One notice to one endpoint, as the delivery log shows it."""

    webhook_id: str
    notice_type: str
    state: str
    attempts: int
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: dt.datetime | None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, or WebhookError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme or "nothing"
        raise WebhookError(f"url {url!r}: must start with https:// (or http://), not {scheme}")
    if not parts.hostname:
        raise WebhookError(f"url {url!r}: names no host")
    return url


async def add_endpoint(conn: Conn, partner_id: str, url: str) -> Endpoint:
    """Register `url` for `partner_id` with a new secret; WebhookError if it is there."""
    if not is_slug(partner_id):
        raise WebhookError(f"{partner_id!r} is not a partner id")
    check_url(url)
    row = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (endpoint_id, partner_id, url, secret) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (partner_id, url) DO NOTHING RETURNING *",
        f"wh-{uuid.uuid4().hex[:12]}", partner_id, url, new_secret(),
    )  # fmt: skip
    if row is None:
        raise WebhookError(f"partner {partner_id} has an endpoint at {url} already")
    return Endpoint(**dict(row))


async def list_endpoints(conn: Conn, partner_id: str | None = None) -> list[Endpoint]:
    rows = await conn.fetch(
        "SELECT * FROM webhook_endpoints WHERE $1::text IS NULL OR partner_id = $1 "
        "ORDER BY partner_id, created_at",
        partner_id,
    )
    return [Endpoint(**dict(row)) for row in rows]


async def remove_endpoint(conn: Conn, endpoint_id: str) -> None:
    """Remove the endpoint and the notices still owed to it."""
    if (
        await conn.fetchval(
            "DELETE FROM webhook_endpoints WHERE endpoint_id = $1 RETURNING 1", endpoint_id
        )
        is None
    ):
        raise WebhookError(f"no webhook endpoint {endpoint_id}")


async def enable_endpoint(conn: Conn, endpoint_id: str) -> None:
    """Turn a disabled endpoint on again: what it is owed is sent from now on."""
    done = await conn.fetchval(
        "UPDATE webhook_endpoints SET disabled_at = NULL, failing_since = NULL "
        "WHERE endpoint_id = $1 RETURNING 1",
        endpoint_id,
    )
    if done is None:
        raise WebhookError(f"no webhook endpoint {endpoint_id}")
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() "
        "WHERE endpoint_id = $1 AND state = 'pending'",
        endpoint_id,
    )


async def delivery_log(conn: Conn, endpoint_id: str, limit: int = 50) -> list[Delivery]:
    """The endpoint's notices, newest first."""
    if (
        await conn.fetchval("SELECT 1 FROM webhook_endpoints WHERE endpoint_id = $1", endpoint_id)
        is None
    ):
        raise WebhookError(f"no webhook endpoint {endpoint_id}")
    rows = await conn.fetch(
        "SELECT webhook_id, notice_type, state, attempts, created_at, last_attempt_at, "
        "last_status, last_error, delivered_at FROM webhook_deliveries "
        "WHERE endpoint_id = $1 ORDER BY created_at DESC, webhook_id LIMIT $2",
        endpoint_id, limit,
    )  # fmt: skip
    return [Delivery(**dict(row)) for row in rows]
