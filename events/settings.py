"""The one settings class every RefNet process reads, from `REFNET_*` variables.

Built once per process by its composition root and handed down; never at import.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration for the broker, database, topics, API and local stack."""

    model_config = SettingsConfigDict(env_prefix="REFNET_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers")
    topic_events: str = Field("refnet.events", description="the shared event log")
    topic_dead_letter: str = Field("refnet.events.dead-letter", description="parked events")
    topic_partitions: int = Field(12, ge=1, description="partitions of the event log")
    consumer_group: str = Field("refnet-projections", description="projection consumer group")
    database_url: str = Field(
        "postgresql://refnet:refnet@127.0.0.1:5432/refnet",
        description="PostgreSQL DSN of the read model",
    )
    read_model_schema: str = Field(
        "readmodel",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of the read model",
    )
    api_host: str = Field("127.0.0.1", description="address the API binds to")
    api_port: int = Field(8000, description="port the API listens on")
    data_dir: Path = Field(Path(".refnet"), description="local stack data and logs")
    kafka_port: int = Field(19092, description="local broker's client port")
    kafka_controller_port: int = Field(19093, description="local KRaft controller port")
    kafka_heap: str = Field("1g", description="local broker's JVM heap")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "refnet", description="where Maven-resolved jars are kept"
    )
    batch_size: int = Field(2000, ge=1, description="events per projection transaction")
    batch_within: float = Field(0.01, gt=0, description="seconds to wait to fill a batch")
    registry_schema: str = Field(
        "registry",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of what is not derived from the log: tokens, keys",
    )
    kafka_sasl_port: int = Field(19094, description="local broker's SASL/SCRAM client port")
    kafka_sasl_bootstrap: str = Field(
        "127.0.0.1:19094", description="bootstrap servers of the SASL/SCRAM listener"
    )
    kafka_admin_password: str = Field(
        "refnet-admin", description="SCRAM password of the local broker's admin principal"
    )
    keys_dir: Path = Field(Path(".refnet/keys"), description="where local signing keys are kept")
    gateway_key_file: Path = Field(
        Path(".refnet/keys/gateway.key"), description="the HTTP gateway's Ed25519 signing key"
    )
    gateway_publisher_id: str = Field(
        "gateway",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="publisher id the gateway signs as; one per gateway process",
    )
    ingest_max_events: int = Field(1000, ge=1, description="most events in one POST /v1/events")
    ingest_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="largest body POST /v1/events accepts"
    )
    referral_overdue_days: int = Field(
        14, ge=1, le=3650, description="days a referral may wait for an answer before it is overdue"
    )
    ingest_publish_timeout: float = Field(
        10.0, gt=0, description="seconds the gateway waits for the log to confirm a batch"
    )
    projection_state_cache: int = Field(
        50_000,
        ge=0,
        description="participants' folded states a worker keeps in memory between batches",
    )
    catchup_batch_size: int = Field(
        20_000, ge=1, description="events per transaction while a worker folds a backlog in bulk"
    )
    catchup_min_lag: int = Field(
        5_000,
        ge=0,
        description="backlog (events) from which a starting worker folds in bulk before "
        "the live stream takes over",
    )
    projection_synchronous_commit: bool = Field(
        True,
        description="the worker waits for each batch's WAL flush; off is safe too (a crash "
        "loses rows and offsets together, and the worker reads that range again) but no faster",
    )
    worker_stall_seconds: float = Field(
        60.0,
        gt=0,
        description="seconds a worker may fail to apply what it holds before health "
        "reports it stuck",
    )
    kafka_sasl_username: str | None = Field(
        None,
        description="when set, Kafka clients log in with SCRAM-SHA-512 on kafka_sasl_bootstrap",
    )
    kafka_sasl_password: str | None = Field(None, description="the SCRAM password of that user")
    kek_file: Path = Field(
        Path(".refnet/keys/kek"),
        description="the key-encryption key that wraps participants' data keys (32 random "
        "bytes, base64url); `refnet stack up` makes one for the local stack",
    )
    kek: str | None = Field(
        None,
        description="the key-encryption key itself (base64url of 32 bytes); wins over kek_file",
        repr=False,
    )
    retention_last_payment: dict[str, dt.date] = Field(
        default_factory=dict,
        description="per programme, the date of the funder's last payment, as JSON "
        '(`{"Netzwerk Integration": "2029-06-30"}`): the audit-retention duty runs five years '
        "from the end of that year; a programme not listed has no duty",
    )

    log_format: Literal["text", "json"] = Field(
        "text",
        description="`json`: every process logs one JSON object per line, with the request id "
        "or the partition and offsets of the batch in each",
    )
    worker_metrics_port: int = Field(
        9108,
        ge=0,
        le=65535,
        description="port of each projection worker's Prometheus metrics (0: none); "
        "`projections run --workers N` gives its processes this port and the next N-1",
    )
    webhook_metrics_port: int = Field(
        9120,
        ge=0,
        le=65535,
        description="port of the webhook delivery worker's Prometheus metrics (0: none)",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1",
        description="address the projection and webhook workers' metrics bind to "
        "(0.0.0.0 in a pod)",
    )
    api_metrics: bool = Field(
        True, description="the API answers `GET /metrics` with its Prometheus metrics"
    )
    webhook_group: str = Field(
        "refnet-webhooks", description="consumer group of the webhook delivery worker"
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="seconds a partner's endpoint has to answer one notice"
    )
    webhook_retry_base: float = Field(
        5.0, gt=0, description="seconds before a failed notice's first retry; doubled each time"
    )
    webhook_retry_cap: float = Field(
        3600.0, gt=0, description="the longest pause between two attempts of one notice"
    )
    webhook_disable_after: float = Field(
        86400.0,
        gt=0,
        description="seconds of failures without a success after which an endpoint is "
        "disabled (`refnet partners webhooks enable` turns it on again)",
    )
    kafka_brokers: int = Field(
        1,
        ge=1,
        le=5,
        description="nodes of the local Kafka cluster (`stack up --brokers 3`), each broker and "
        "controller; node i listens on each local port + 10·(i-1); from 3 nodes on, topics "
        "have 3 replicas and min.insync.replicas=2",
    )

    @model_validator(mode="before")
    @classmethod
    def _cluster_bootstrap(cls, data: Any) -> Any:
        """With a local cluster, clients bootstrap from every node, so any one may be down."""
        brokers = data.get("kafka_brokers", 1) if isinstance(data, dict) else 1
        if not str(brokers).isdigit() or int(brokers) <= 1:
            return data  # one broker, or a value the field's own check refuses
        if int(brokers) % 2 == 0:
            raise ValueError("kafka_brokers must be odd (1, 3 or 5): a quorum needs a majority")
        nodes = range(int(brokers))
        for setting, port in (
            ("kafka_bootstrap", "kafka_port"),
            ("kafka_sasl_bootstrap", "kafka_sasl_port"),
        ):
            first = int(data.get(port, cls.model_fields[port].default))
            data.setdefault(setting, ",".join(f"127.0.0.1:{first + 10 * i}" for i in nodes))
        return data

    def data_path(self) -> Path:
        """`data_dir` as an absolute path (the setting may be relative or start with ~)."""
        return self.data_dir.expanduser().resolve()
