"""Control of the local RefNet stack: Kafka broker, topics, PostgreSQL, workers and API.

`up` is idempotent (every step looks before it acts) and `stop` ends only what `up` started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from refnet.events.settings import Settings
from refnet.projections.store.schema import PROJECTION
from refnet.projections.store.views import PartitionLag
from refnet.projections.worker.heartbeat import WorkerStatus, projection_verdict
from refnet.projections.worker.lag import lag_of
from refnet.services.kafka.access import ServiceAccess, ensure_service_access
from refnet.services.kafka.topics import TopicState, ensure_topics, high_watermarks
from refnet.services.localstack.errors import (
    BrokerUnavailable,
    DatabaseUnavailable,
    JarsUnavailable,
    ProcessFailed,
    StackError,
    ToolMissing,
)
from refnet.services.localstack.kafka import (
    KafkaStart,
    broker_answers,
    broker_version,
    ensure_kafka_jars,
    kafka_version,
    port_open,
    start_kafka,
    stop_kafka,
)
from refnet.services.localstack.kafka_cluster import ClusterStatus, cluster_status
from refnet.services.localstack.kafka_nodes import KAFKA, nodes
from refnet.services.localstack.postgres import (
    ensure_postgres,
    projection_offsets,
    projection_workers,
    read_state,
    safe_address,
    server_version,
    stop_postgres,
)
from refnet.services.localstack.process import (
    is_running,
    running_pid,
    settings_env,
    start_background,
    stop_background,
    tracked_names,
)
from refnet.services.registry.data_keys import write_kek_file

__all__ = [
    "API", "KAFKA", "WEBHOOKS", "WORKER", "BackgroundProcess", "ComponentStatus", "KafkaStart",
    "PartitionLag", "StackStatus", "StopReport", "TopicState", "UpReport",
    "StackError", "BrokerUnavailable", "DatabaseUnavailable", "JarsUnavailable",
    "ProcessFailed", "ToolMissing",
    "up", "stop", "status", "ensure_kafka_jars", "kafka_version", "start_kafka",
    "ensure_topics", "ensure_postgres", "safe_address",
    "start_background", "stop_background", "is_running",
]  # fmt: skip

WORKER = "worker"
"""Pid-file name of the projection worker (`refnet projections run`)."""
WEBHOOKS = "webhooks"
"""Pid-file name of the webhook delivery worker (`refnet partners webhooks run`)."""
API = "api"
"""Pid-file name of the HTTP API (`refnet serve`)."""


BackgroundProcess = tuple[str, list[str]]
"""A process for `up` to start after the infrastructure: (pid-file name, argv)."""


@dataclass(frozen=True)
class UpReport:
    """What `up` found or started, step by step."""

    jars: str
    kafka: KafkaStart
    topics: list[TopicState]
    database_url: str
    processes: dict[str, tuple[int, bool]] = field(default_factory=dict)
    """name -> (pid, started now); False means it was already running."""
    access: ServiceAccess | None = None
    """The service principals on the SASL listener (None: not looked at)."""
    kek_made: bool = False
    """Whether `up` made the key-encryption key file now (it never replaces one)."""


@dataclass(frozen=True)
class StopReport:
    """Which parts `stop` ended (a part not listed was not running or not ours)."""

    stopped: list[str]


@dataclass(frozen=True)
class ComponentStatus:
    """One part of the stack as `status` sees it."""

    name: str
    up: bool
    version: str | None
    address: str
    pid: int | None = None
    managed: bool = False
    """Started by this stack (so `down` stops it)."""


@dataclass(frozen=True)
class StackStatus:
    """The stack's parts and the projection's lag per partition of the event log."""

    components: list[ComponentStatus]
    topic: str
    projection: str
    lag: list[PartitionLag]
    workers: list[WorkerStatus] = field(default_factory=list)
    cluster: ClusterStatus | None = None
    """With `REFNET_KAFKA_BROKERS` > 1: the brokers, the controller, short partitions."""

    @property
    def total_lag(self) -> int:
        return sum(entry.lag for entry in self.lag)

    @property
    def projection_verdict(self) -> tuple[bool | None, str]:
        """(up, detail) as /v1/health judges it: stuck workers, or events waiting for none."""
        return projection_verdict(self.workers, self.total_lag if self.lag else None)

    def component(self, name: str) -> ComponentStatus:
        return next(part for part in self.components if part.name == name)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (`status --json`)."""
        up, detail = self.projection_verdict
        return {
            **asdict(self),
            "lag": [p.model_dump() for p in self.lag],
            "workers": [w.model_dump() for w in self.workers],
            "total_lag": self.total_lag,
            "projection_up": up,
            "projection_detail": detail,
        }


async def up(
    settings: Settings,
    extra_processes: Sequence[BackgroundProcess] = (),
    on_step: Callable[[str], None] | None = None,
) -> UpReport:
    """Jars, broker, topics, PostgreSQL, the KEK file, then `extra_processes` (worker and API).

    Each extra process runs with every setting exported as `REFNET_*` and the DSN that
    `ensure_postgres` returned; one already running is left alone.
    """
    step = on_step or (lambda _message: None)
    step("Resolving the Kafka broker's jars")
    libs = await asyncio.to_thread(ensure_kafka_jars, settings)
    step("Starting the Kafka broker" if settings.kafka_brokers == 1 else "Starting the Kafka nodes")
    kafka = await asyncio.to_thread(start_kafka, settings)
    step("Creating topics")
    topics = await asyncio.to_thread(ensure_topics, settings)
    step("Granting the services' Kafka access")
    access = await asyncio.to_thread(ensure_service_access, settings)
    step("Starting PostgreSQL")
    dsn = await ensure_postgres(settings)
    # The local stack's own KEK, made once beside the signing keys; a KEK given in
    # REFNET_KEK is used as it is. Nothing else ever makes one (see registry.data_keys).
    kek_made = settings.kek is None and write_kek_file(settings.kek_file)
    if kek_made:
        step(f"Made the key-encryption key {settings.kek_file}")
    # --- worker and API: the caller passes them (see services/cli/stack.py) ---
    env = settings_env(settings)
    env["REFNET_DATABASE_URL"] = dsn
    env["REFNET_KEK_FILE"] = str(settings.kek_file.expanduser().resolve())
    processes: dict[str, tuple[int, bool]] = {}
    for name, argv in extra_processes:
        # The worker reads the log as the projections principal, the only one allowed to.
        proc_env = env | _projections_login(access) if name == WORKER else env
        pid = running_pid(name, settings)
        if pid is not None:
            processes[name] = (pid, False)
            continue
        step(f"Starting {name}")
        processes[name] = (start_background(name, argv, settings, proc_env), True)
    return UpReport(str(libs), kafka, topics, dsn, processes, access, kek_made)


def _projections_login(access: ServiceAccess) -> dict[str, str]:
    if access.outcome != "granted" or access.password_file is None:
        return {}  # a broker without ACLs: the loopback listener it is
    return {
        "REFNET_KAFKA_SASL_USERNAME": access.projections_principal,
        "REFNET_KAFKA_SASL_PASSWORD": access.password_file.read_text().strip(),
    }


def stop(
    settings: Settings, timeout: float = 60.0, on_step: Callable[[str], None] | None = None
) -> StopReport:
    """Stop worker, API and any other tracked process, then the broker, then PostgreSQL.

    Consumers go first so they commit and leave the group while the broker still runs.
    """
    step = on_step or (lambda _message: None)
    stopped: list[str] = []
    brokers = {KAFKA} | {n for n in tracked_names(settings) if n.startswith(f"{KAFKA}-")}
    for name in [name for name in tracked_names(settings) if name not in brokers]:
        step(f"Stopping {name}")
        if stop_background(name, settings, timeout):
            stopped.append(name)
    step("Stopping the Kafka broker" if settings.kafka_brokers == 1 else "Stopping the Kafka nodes")
    stopped += stop_kafka(settings, timeout)
    step("Stopping PostgreSQL")
    if stop_postgres(settings):
        stopped.append("postgres")
    return StopReport(stopped)


async def status(settings: Settings) -> StackStatus:
    """Each part up or down with version and address, and the projection lag.

    Never raises for a part that is down: that part is reported down instead.
    """
    kafka_up = await asyncio.to_thread(broker_answers, settings.kafka_bootstrap)
    kafka_pid = running_pid(KAFKA, settings)
    version = await asyncio.to_thread(broker_version, settings) if kafka_up else None
    kafka = ComponentStatus(
        "kafka", kafka_up, version, settings.kafka_bootstrap, kafka_pid, kafka_pid is not None
    )
    brokers: list[ComponentStatus] = []
    cluster = None
    if settings.kafka_brokers > 1:
        cluster = await asyncio.to_thread(cluster_status, settings)
        for node in nodes(settings):
            pid = running_pid(node.name, settings)
            alive = cluster is not None and node.id in cluster.brokers
            role = " (controller)" if cluster is not None and cluster.controller == node.id else ""
            brokers.append(
                ComponentStatus(
                    f"broker {node.id}{role}", alive, version if alive else None,
                    node.address, pid, pid is not None,
                )
            )  # fmt: skip
    sasl_up = kafka_up and await asyncio.to_thread(port_open, settings.kafka_sasl_bootstrap)
    sasl = ComponentStatus(
        "kafka-sasl", sasl_up, None, settings.kafka_sasl_bootstrap, kafka_pid, kafka_pid is not None
    )
    dsn = settings.database_url
    pg_version = await server_version(dsn)
    state = read_state(settings)
    postgres = ComponentStatus(
        "postgres",
        pg_version is not None,
        pg_version,
        safe_address(dsn),
        managed=state is not None and state.started_by_stack,
    )
    api_address = f"http://{settings.api_host}:{settings.api_port}"
    parts = [
        kafka,
        *brokers,
        sasl,
        postgres,
        _process_status(WORKER, settings, f"group {settings.consumer_group}"),
        _process_status(WEBHOOKS, settings, f"group {settings.webhook_group}"),
        _process_status(API, settings, api_address),
    ]
    lag = await _lag(settings, kafka_up, pg_version is not None)
    workers = await projection_workers(settings) if pg_version is not None else []
    return StackStatus(parts, settings.topic_events, PROJECTION, lag, workers, cluster)


def _process_status(name: str, settings: Settings, address: str) -> ComponentStatus:
    pid = running_pid(name, settings)
    version = _refnet_version() if pid is not None else None
    return ComponentStatus(name, pid is not None, version, address, pid, pid is not None)


async def _lag(settings: Settings, kafka_up: bool, postgres_up: bool) -> list[PartitionLag]:
    """Empty when either side is down: a lag without the stored offsets would be a guess."""
    if not (kafka_up and postgres_up):
        return []
    try:
        marks = await asyncio.to_thread(high_watermarks, settings, settings.topic_events)
        stored = await projection_offsets(settings)
    except (StackError, BrokerUnavailable):
        return []
    return lag_of(marks, stored)


def _refnet_version() -> str | None:
    try:
        return metadata.version("refnet")
    except metadata.PackageNotFoundError:
        return None
