"""A projection worker's Prometheus metrics, served on a port of its own.

Every worker process serves `/metrics` on `REFNET_WORKER_METRICS_PORT` (one
port per process; `projections run --workers N` counts up from it). The
names follow Prometheus' conventions: counters end in `_total`, durations are
`_seconds`, and labels stay few and bounded (a partition, the first word of a
dead letter's reason, an event type), never an id or a message. The alert
rules in `deploy/prometheus/` and the dashboard in `deploy/grafana/` read
these names; a test holds them to this module.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from refnet.projections.store.outcomes import BatchResult

log = logging.getLogger(__name__)

# From a batch of a few events (milliseconds) to a bulk chunk of 20,000 (seconds).
BATCH_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def reason_class(reason: str) -> str:
    """The first word of a dead letter's reason (`invalid`, `undecodable`, `unsigned`, ...):
    the reasons themselves name fields and ids, too many values for a label."""
    head = reason.split(":", 1)[0].strip().lower()
    word = head.split(" ", 1)[0] if head else "unknown"
    return word if word.isidentifier() else "unknown"


class WorkerMetrics:
    """The counters, gauges and histogram of one worker process, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "refnet_worker_events", "Events handled, by outcome", ["outcome"], registry=r
        )
        self.batches = Counter("refnet_worker_batches", "Batches committed", registry=r)
        self.batch_seconds = Histogram(
            "refnet_worker_batch_duration_seconds",
            "Time to classify, fold and commit one batch",
            buckets=BATCH_SECONDS,
            registry=r,
        )
        self.lag = Gauge(
            "refnet_worker_lag_events",
            "Events in the log not yet applied, per partition this worker owns",
            ["partition"],
            registry=r,
        )
        self.dead_letters = Counter(
            "refnet_worker_dead_letters",
            "Events parked as dead letters, by the first word of the reason",
            ["reason"],
            registry=r,
        )
        self.rejections = Counter(
            "refnet_worker_rejections",
            "Events that broke a rule (listed under the partner's rejections), by type",
            ["type"],
            registry=r,
        )
        self.refused_batches = Counter(
            "refnet_worker_refused_batches",
            "Batches the store refused for not continuing the stored offsets (each a seek back)",
            registry=r,
        )
        self.database_retries = Counter(
            "refnet_worker_database_retries",
            "Attempts that met PostgreSQL unavailable and were retried",
            registry=r,
        )
        self.owned_partitions = Gauge(
            "refnet_worker_partitions",
            "Partitions of the event log assigned to this worker",
            registry=r,
        )

    def batch(self, result: BatchResult, seconds: float) -> None:
        """A batch was committed in `seconds`."""
        self.batches.inc()
        self.batch_seconds.observe(seconds)
        self.events.labels("applied").inc(result.applied)
        self.events.labels("duplicate").inc(result.duplicates)
        self.events.labels("dead_lettered").inc(result.dead_lettered)
        self.events.labels("rejected").inc(result.rejected)
        for event_type in result.rejected_types:
            self.rejections.labels(event_type).inc()
        # As parked (once each), not as sent to the topic (again after a redelivery).
        for reason in result.dead_letter_reasons:
            self.dead_letters.labels(reason_class(reason)).inc()

    def show_lag(self, ends: dict[int, int], applied_to: dict[int, int]) -> None:
        """Lag per owned partition: the log's end minus the next offset to apply."""
        self.set_lag({p: ends.get(p, 0) - next_offset for p, next_offset in applied_to.items()})

    def set_lag(self, lag: dict[int, int]) -> None:
        """The events waiting on each partition this worker owns (and no other partition)."""
        self.lag.clear()
        for partition, waiting in lag.items():
            self.lag.labels(str(partition)).set(max(0, waiting))
        self.owned_partitions.set(len(lag))

    def serve(self, port: int, host: str) -> int | None:
        """Serve `/metrics` on `port` in a thread (see `serve_registry`)."""
        return serve_registry(self.registry, port, host, "worker")


def serve_registry(registry: CollectorRegistry, port: int, host: str, what: str) -> int | None:
    """Serve `registry` at `/metrics` on `port` in a thread; the port taken, or None when it
    is 0 or busy.

    A busy port is logged and the process runs on: metrics must never stop its work.
    """
    if port == 0:
        return None
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("%s metrics not served: port %d: %s", what, port, exc)
        return None
    taken = int(server.server_port)
    log.info("%s metrics on http://%s:%d/metrics", what, host, taken)
    return taken
