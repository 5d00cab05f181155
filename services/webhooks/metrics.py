"""The webhook delivery worker's Prometheus metrics, served on a port of its own.

`refnet partners webhooks run` serves `/metrics` on `REFNET_WEBHOOK_METRICS_PORT`.
Labels stay bounded: a notice type and an outcome, never an endpoint or a partner
(the delivery log per endpoint is `refnet partners webhooks log`). The alert rules in
`deploy/prometheus/` read these names; a test holds them to this module.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from refnet.projections.store.database import Conn
from refnet.projections.worker.metrics import serve_registry

# A receiver on the same network answers in milliseconds; the timeout is 10 s by default.
POST_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_QUEUE = """
SELECT count(*) FILTER (WHERE d.state = 'pending' AND e.disabled_at IS NULL) AS pending,
       coalesce(extract(epoch FROM now() - min(d.created_at)
           FILTER (WHERE d.state = 'pending' AND e.disabled_at IS NULL)), 0) AS oldest,
       (SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL) AS disabled
FROM webhook_deliveries d JOIN webhook_endpoints e USING (endpoint_id)
"""


class WebhookMetrics:
    """Counters, gauges and a histogram of one delivery worker, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.notices = Counter(
            "refnet_webhook_notices",
            "Notices enqueued for partners' endpoints, by notice type",
            ["type"],
            registry=r,
        )
        self.deliveries = Counter(
            "refnet_webhook_deliveries",
            "Posts to partners' endpoints, by outcome (delivered: 2xx; failed: retried later)",
            ["outcome"],
            registry=r,
        )
        self.post_seconds = Histogram(
            "refnet_webhook_post_duration_seconds",
            "Time from posting a notice to the endpoint's answer (or the error)",
            buckets=POST_SECONDS,
            registry=r,
        )
        self.disabled = Counter(
            "refnet_webhook_endpoints_disabled",
            "Endpoints disabled after failing for `REFNET_WEBHOOK_DISABLE_AFTER` seconds",
            registry=r,
        )
        self.pending = Gauge(
            "refnet_webhook_pending_notices",
            "Notices owed to enabled endpoints and not yet delivered",
            registry=r,
        )
        self.oldest_pending = Gauge(
            "refnet_webhook_oldest_pending_seconds",
            "Age of the oldest notice still owed to an enabled endpoint (0: none)",
            registry=r,
        )
        self.disabled_endpoints = Gauge(
            "refnet_webhook_disabled_endpoints",
            "Endpoints disabled now (until `refnet partners webhooks enable`)",
            registry=r,
        )

    async def read_queue(self, conn: Conn) -> None:
        """Set the queue's gauges from the delivery table."""
        row = await conn.fetchrow(_QUEUE)
        assert row is not None  # an aggregate always answers one row
        self.pending.set(row["pending"])
        self.oldest_pending.set(float(row["oldest"]))
        self.disabled_endpoints.set(row["disabled"])

    def serve(self, port: int, host: str) -> int | None:
        """Serve `/metrics` on `port` in a thread (see `serve_registry`)."""
        return serve_registry(self.registry, port, host, "webhook")
