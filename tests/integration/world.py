"""An isolated corner of the real broker and database for one test.

Each World has its own topics, consumer group and read-model schema, so tests
never see each other's events; workers run as real `refnet projections run`
processes, so they can be killed like real ones.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from refnet.events.catalogue import EventModel
from refnet.events.codec import decode
from refnet.events.keystore import LocalKeys
from refnet.events.publisher import Publisher
from refnet.events.settings import Settings
from refnet.projections.audit.snapshot import snapshot
from refnet.projections.store.database import Conn, connect_pool, create_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.store.queries import network_outcomes
from refnet.projections.store.views import NetworkOutcomes, Period
from refnet.projections.worker.catchup import wait_caught_up
from refnet.services.demo.network import DEMO_PARTNERS
from refnet.services.kafka.admin import BrokerUnavailable
from refnet.services.kafka.topics import ensure_topics, high_watermarks
from refnet.services.localstack.process import settings_env
from refnet.services.registry.local_keys import provision_keys
from tests.integration.world_events import (
    T0,
    enrolled,
    envelope,
    history,
    new_pid,
    placed,
    retracted,
)
from tests.integration.world_serving import (
    free_port,
    served_api,
    served_api_process,
    show_in_terminal,
)

__all__ = [
    "T0",
    "World",
    "enrolled",
    "envelope",
    "free_port",
    "history",
    "isolated_settings",
    "new_pid",
    "placed",
    "retracted",
    "run_sync",
    "served_api",
    "served_api_process",
    "show_in_terminal",
    "world_kek",
]


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to the end from sync code, even inside a running event loop."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def world_kek(tag: str) -> str:
    """The key-encryption key of the world `tag`, the same on every call (base64url)."""
    digest = hashlib.sha256(f"refnet-test-kek/{tag}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def isolated_settings(tag: str | None = None, **overrides: Any) -> Settings:
    """Settings of a world of its own: topics, group, schemas, and its own KEK (`REFNET_KEK`,
    so `settings_env` hands it to the processes a test starts)."""
    tag = tag or uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "kek": world_kek(tag),
        "topic_events": f"test-{tag}",
        "topic_dead_letter": f"test-{tag}-dead",
        "consumer_group": f"test-{tag}-group",
        "read_model_schema": f"test_{tag}",
        "registry_schema": f"test_{tag}_registry",
        "batch_size": 500,
    }
    values.update(overrides)
    return Settings(**values)


LogRecord = tuple[bytes, bytes, list[tuple[str, bytes]]]
"""A record as read back: key, value and headers."""


@dataclass
class World:
    settings: Settings
    log_dir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls, log_dir: Path, **overrides: Any) -> World:
        """Topics and schemas of its own, and a registered signing key for each partner."""
        overrides.setdefault("keys_dir", log_dir / "keys")
        overrides.setdefault("gateway_key_file", log_dir / "keys" / "gateway.key")
        world = cls(isolated_settings(**overrides), log_dir)
        ensure_topics(world.settings)
        world.wait_for_leaders()
        run_sync(world.register_keys(DEMO_PARTNERS))
        return world

    @property
    def keys(self) -> LocalKeys:
        return LocalKeys(self.settings.keys_dir)

    async def register_keys(self, partner_ids: Iterable[str]) -> None:
        """Make (if needed) and register a local key for each partner."""
        await provision_keys(self.settings, partner_ids)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A connection to this world's schemas, migrated."""
        pool = await connect_pool(self.settings, max_size=1)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, self.settings.read_model_schema, self.settings.registry_schema)
                yield conn
        finally:
            await pool.close()

    def wait_for_leaders(self, timeout: float = 60.0) -> None:
        """A new topic's partitions answer only once each has a leader."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                high_watermarks(self.settings, self.settings.topic_events)
                return
            except BrokerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def sibling(self, **overrides: Any) -> World:
        """Another consumer group and schema reading the same topic (a rebuild beside it)."""
        tag = uuid.uuid4().hex[:10]
        settings = self.settings.model_copy(
            update={"consumer_group": f"test-{tag}-group", "read_model_schema": f"test_{tag}"}
            | overrides
        )
        return World(settings, self.log_dir)

    # ------------------------------------------------------------ processes

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.workers)}.log").open("ab")
        env = settings_env(self.settings) | {"PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "refnet.services.cli.main", "projections", "run"]
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # --------------------------------------------------------------- the log

    def publish(self, events: Iterable[EventModel]) -> int:
        """Publish `events` signed by their partners' keys, as a partner's client does."""
        return Publisher(self.settings, signer_for=self.keys.signer).publish(events).delivered

    def publish_unsigned(self, events: Iterable[EventModel]) -> int:
        """Publish `events` exactly as given: unsigned, or with the integrity fields they carry."""
        return Publisher(self.settings).publish(events).delivered

    def publish_raw(self, key: bytes, value: bytes) -> None:
        producer = Producer({"bootstrap.servers": self.settings.kafka_bootstrap, "acks": "all"})
        producer.produce(self.settings.topic_events, key=key, value=value)
        assert producer.flush(30) == 0

    def log_size(self) -> int:
        """How many records the event log holds, over all partitions."""
        return sum(high_watermarks(self.settings, self.settings.topic_events).values())

    def read_log(self) -> list[EventModel]:
        """Every event on the log, decoded, in (partition, offset) order."""
        return [decode(value) for value in self.read_raw_log()]

    def read_raw_log(self) -> list[bytes]:
        """Every record's value on the log as the broker holds it, in (partition, offset) order."""
        return [value for _key, value, _headers in self.read_records()]

    def read_records(self, topic: str | None = None) -> list[LogRecord]:
        """Every record of `topic` (the event log by default): key, value and headers, in
        (partition, offset) order."""
        topic = topic or self.settings.topic_events
        ends = high_watermarks(self.settings, topic)
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": f"log-reader-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
            }
        )
        wanted = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        found: list[tuple[int, int, LogRecord]] = []
        try:
            deadline = time.monotonic() + 60
            while len(found) < sum(wanted.values()) and time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is not None and not msg.error():
                    headers = [(str(h[0]), _as_bytes(h[1])) for h in msg.headers() or []]
                    key = msg.key()
                    record = (_as_bytes(key), msg.value() or b"", headers)
                    found.append((msg.partition() or 0, msg.offset() or 0, record))
        finally:
            consumer.close()
        return [record for _, _, record in sorted(found, key=lambda f: f[:2])]

    def dead_letter_reasons(self, expected: int) -> list[str]:
        """The `refnet-reason` of each parked source event, in source (partition, offset) order.

        The topic is written at least once (a redelivered batch parks its events
        again), so reasons are kept per source, the message key.
        """
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": f"dlq-reader-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([self.settings.topic_dead_letter])
        reasons: dict[str, str] = {}
        try:
            for _ in range(100):
                msg = consumer.poll(1.0)
                if msg is None or msg.error():
                    continue
                headers = dict(msg.headers() or [])
                key, reason = msg.key(), headers["refnet-reason"]
                assert isinstance(key, bytes) and isinstance(reason, bytes)
                reasons[key.decode()] = reason.decode()
                if len(reasons) == expected:
                    break
        finally:
            consumer.close()
        return [reasons[source] for source in sorted(reasons, key=_source_order)]

    def dispose(self) -> None:
        """Stop its processes, delete its topics and drop its read model."""
        self.stop_all()
        self.drop()
        run_sync(self.drop_schema())

    def drop(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        topics = [self.settings.topic_events, self.settings.topic_dead_letter]
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            try:
                future.result()
            except Exception:  # already gone, or a sibling dropped it
                pass

    # ----------------------------------------------------------- read model

    async def wait(self, timeout: float = 120.0) -> None:
        async with self.connection() as conn:
            await wait_caught_up(conn, self.settings, timeout=timeout)

    async def wait_for_heartbeat(self, timeout: float = 60.0) -> None:
        """Until a worker of this world has written its first heartbeat."""
        deadline = time.monotonic() + timeout
        beat = "SELECT count(*) FROM projection_workers WHERE consumer_group = $1"
        while not (await self.fetch(beat, self.settings.consumer_group))[0][0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no worker heartbeat within {timeout:.0f}s")
            await asyncio.sleep(0.1)  # polling for the worker's first row

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self.connection() as conn:
            return [tuple(r) for r in await conn.fetch(sql, *args)]

    async def outcomes(self, period: Period | None = None) -> NetworkOutcomes:
        async with self.connection() as conn:
            return await network_outcomes(
                conn, period or Period(), self.settings.referral_overdue_days
            )

    async def dump(self) -> dict[str, list[Any]]:
        """Every row the log determines, table by table, in a stable order."""
        async with self.connection() as conn:
            return await snapshot(conn)

    async def drop_schema(self) -> None:
        pool = await create_pool(self.settings.database_url, "public")
        try:
            async with pool.acquire() as conn:
                for schema in (self.settings.read_model_schema, self.settings.registry_schema):
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await pool.close()


def _as_bytes(value: str | bytes | None) -> bytes:
    return value.encode() if isinstance(value, str) else value or b""


def _source_order(source: str) -> tuple[int, int]:
    _topic, partition, offset = source.rsplit("/", 2)
    return int(partition), int(offset)
