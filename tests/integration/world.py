"""An isolated corner of the real broker and database for one test.

Each World has its own topics, consumer group and read-model schema, so tests
never see each other's events; workers run as real `refnet projections run`
processes, so they can be killed like real ones.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from refnet.events import catalogue as c
from refnet.events import vocabulary as v
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

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


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
        ends = high_watermarks(self.settings, self.settings.topic_events)
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": f"log-reader-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
            }
        )
        wanted = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(self.settings.topic_events, p, 0) for p in wanted])
        found: list[tuple[int, int, bytes]] = []
        try:
            deadline = time.monotonic() + 60
            while len(found) < sum(wanted.values()) and time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is not None and not msg.error():
                    where = (msg.partition() or 0, msg.offset() or 0)
                    found.append((*where, msg.value() or b""))
        finally:
            consumer.close()
        return [value for _, _, value in sorted(found, key=lambda f: f[:2])]

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


def _source_order(source: str) -> tuple[int, int]:
    _topic, partition, offset = source.rsplit("/", 2)
    return int(partition), int(offset)


# ------------------------------------------------------------------ events


def new_pid(prefix: str = "p") -> str:
    """A participant pseudonym no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def envelope(
    pid: str, partner: str, at: dt.datetime, event_id: uuid.UUID | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id or uuid.uuid4(),
        "partner_id": partner,
        "site": "witten",
        "participant_id": pid,
        "occurred_at": at,
        "recorded_at": at,
    }


def enrolled(
    pid: str, partner: str = "awo-en", at: dt.datetime = T0, event_id: uuid.UUID | None = None
) -> c.ParticipantEnrolled:
    data = c.EnrolledData(
        programme="Netzwerk Integration",
        residence_status=v.ResidenceStatus.DULDUNG,
        work_permission=v.WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,
        sgb2_eligible=True,
        employment_status=v.EmploymentStatus.UNEMPLOYED,
        education_level=v.EducationLevel.ISCED_3_4,
        age_band=v.AgeBand.AGE_18_29,
        gender="refused",
        third_country_national=True,
        german_level=v.GermanLevel.A2,
        consent_to_share=True,
    )
    return c.ParticipantEnrolled(**envelope(pid, partner, at, event_id), data=data)


def placed(
    pid: str,
    partner: str = "bobeq",
    at: dt.datetime = T0,
    kind: str = "employment",
    event_id: uuid.UUID | None = None,
) -> c.ParticipantPlaced:
    data = c.PlacedData(placement_id=f"pl-{pid}", kind=v.PlacementKind(kind), start_date=at.date())
    return c.ParticipantPlaced(**envelope(pid, partner, at, event_id), data=data)


def retracted(original: EventModel, at: dt.datetime) -> c.EventRetracted:
    data = c.RetractedData(retracted_event_id=original.event_id, reason="recorded in error")
    return c.EventRetracted(
        **envelope(original.participant_id, original.partner_id, at, None), data=data
    )


def history(participants: int, prefix: str) -> list[EventModel]:
    """A synthetic history: every participant enrolled, every third placed, a few retracted."""
    events: list[EventModel] = []
    for n in range(participants):
        pid = f"{prefix}-{n:06d}"
        events.append(enrolled(pid, at=T0 + dt.timedelta(minutes=n)))
        if n % 3 == 0:
            placement = placed(pid, at=T0 + dt.timedelta(days=30, minutes=n))
            events.append(placement)
            if n % 30 == 0:
                events.append(retracted(placement, T0 + dt.timedelta(days=31, minutes=n)))
    return events


# ------------------------------------------------------------------ a served API


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served_api(world: World, log: Path) -> Iterator[str]:
    """A real `refnet serve` process on a free port for `world`; yields its base URL.

    Its output goes to `log`, which is quoted if it exits or never answers; it is
    stopped on exit, also when the body fails.
    """
    with served_api_process(world, log) as (base_url, _process):
        yield base_url


@contextmanager
def served_api_process(world: World, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As `served_api`, also yielding the process, for tests that kill it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "refnet.services.cli.main", "serve"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    env = settings_env(world.settings) | {"PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(process, base_url, log)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    """Block until the server answers its schema; raise with its log if it exits or never does."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"refnet serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/openapi.json", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling for the server to come up
    raise RuntimeError(f"refnet serve did not answer within 60s:\n{log.read_text()}")


# ------------------------------------------------------------------ reporting


def show_in_terminal(request: Any, lines: Iterable[str]) -> None:
    """Print `lines` to the terminal past pytest's capture (figures a run should show)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
