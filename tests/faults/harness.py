"""What the fault cases share: breaking the local stack, clients that retry, and the verdict.

A case breaks a real part (PostgreSQL, the broker, the API, a worker), lets the
clients retry what was refused, and ends with a `Verdict`: what was sent and
acknowledged, what the log holds, what the read model counts against an
independent fold of the acknowledged events, and `refnet audit verify`'s word.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from refnet.events.catalogue import EventModel
from refnet.events.settings import Settings
from refnet.projections.worker.catchup import CatchUpTimeout
from refnet.services.localstack.kafka import start_kafka
from refnet.services.localstack.kafka_nodes import KAFKA
from refnet.services.localstack.postgres import read_state
from refnet.services.localstack.process import running_pid, settings_env
from tests.integration.world import T0, World, enrolled, free_port, placed, run_sync

RESULTS: list[Verdict] = []
"""Every case's verdict in this run, for the table printed at the end."""


# ------------------------------------------------------------------ workload


def histories(participants: int, prefix: str, placer: str = "bobeq") -> list[list[EventModel]]:
    """Each participant's events in order: enrolled, and every third one placed a month later.

    Through the API one token publishes for one partner: then pass it as `placer`.
    """
    people = []
    for n in range(participants):
        pid = f"{prefix}-{n:06d}"
        at = T0 + dt.timedelta(minutes=n)
        events: list[EventModel] = [enrolled(pid, at=at)]
        if n % 3 == 0:
            events.append(placed(pid, partner=placer, at=at + dt.timedelta(days=30)))
        people.append(events)
    return people


def flat(people: Iterable[Sequence[EventModel]]) -> list[EventModel]:
    return [event for events in people for event in events]


def independent_fold(acknowledged: Iterable[EventModel]) -> tuple[int, int]:
    """(participants, placed) by the contract's rules, computed apart from the projection.

    The workload has no retractions and every placement follows its enrolment,
    so: distinct enrolled pseudonyms, and distinct placed ones among them.
    """
    events = list(acknowledged)
    people = {e.participant_id for e in events if e.type == "participant.enrolled"}
    placements = {e.participant_id for e in events if e.type == "participant.placed"}
    return len(people), len(placements & people)


def as_body(events: Iterable[EventModel]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json", exclude_none=True) for e in events]


# ------------------------------------------------------------------ breaking the stack


def _postgres_cluster(settings: Settings) -> tuple[str, str]:
    state = read_state(settings)  # set by `stack up`, whether it started the cluster or found it
    if state is None:
        raise RuntimeError("the fault suite needs the PostgreSQL cluster of `refnet stack up`")
    version, _, name = state.cluster.partition("/")
    return version, name


def postgres(settings: Settings, action: str) -> None:
    """`pg_ctlcluster` on the stack's cluster; stops are immediate (a crash, no checkpoint)."""
    version, name = _postgres_cluster(settings)
    argv = ["pg_ctlcluster", version, name, action]
    if action in ("stop", "restart"):
        argv += ["-m", "immediate"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        # `start` of a cluster someone else started meanwhile (another test run's
        # `stack up`) is no failure: what matters is that it runs now.
        status = subprocess.run(
            ["pg_ctlcluster", version, name, "status"], capture_output=True, check=False
        )
        if action != "start" or status.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def kill_broker(settings: Settings) -> None:
    """SIGKILL the stack's broker and wait until it is gone."""
    pid = running_pid(KAFKA, settings)
    if pid is None:
        raise RuntimeError("the fault suite needs the broker of `refnet stack up`")
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(timeout=30)


def start_broker(settings: Settings) -> None:
    start_kafka(settings)


def eventually(probe: Any, timeout: float, what: str) -> Any:
    """Poll `probe()` until it returns something true (errors count as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception:  # the part under test may be down between two polls
            value = None
        if value:
            return value
        time.sleep(0.05)  # polling a state change, not waiting out a guess
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def worker_report(world: World, lines: int = 40) -> str:
    """Each worker's exit status and the end of its log: what a stalled catch-up needs."""
    parts = []
    for n, proc in enumerate(world.workers):
        status = "running" if proc.poll() is None else f"exited with {proc.returncode}"
        path = world.log_dir / f"worker-{n}.log"
        tail = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        parts.append(f"--- worker {n} ({status}), last lines of {path.name}:\n" + "\n".join(tail))
    return "\n".join(parts)


def applied_events(world: World) -> int:
    """How many records the read model has applied, summed over partitions."""
    rows = run_sync(world.fetch("SELECT coalesce(sum(next_offset), 0) FROM projection_offsets"))
    return int(rows[0][0])


# ------------------------------------------------------------------ a served API


class ServedApi:
    """A `refnet serve` process of a world that can be SIGKILLed and started again."""

    def __init__(self, world: World, name: str = "api") -> None:
        self.world = world
        self.log = world.log_dir / f"{name}.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "refnet.services.cli.main", "serve"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        env = settings_env(self.world.settings) | {"PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        eventually(self._answers, 60, f"refnet serve on {self.url}")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"refnet serve exited:\n{self.log.read_text()}")
        return httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class RetryingClient:
    """Posts batches to `POST /v1/events`, retrying each refused one until it is accepted.

    A 503 must carry Retry-After; the client honours it (capped, to keep cases short).
    """

    api: ServedApi
    token: str
    max_wait: float = 1.0
    attempts: int = 0
    refused: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    acknowledged: list[EventModel] = field(default_factory=list)

    def post_until_accepted(self, events: Sequence[EventModel], deadline: float) -> None:
        body: Any = as_body(events)
        if len(body) == 1:
            body = body[0]
        while True:
            status = self._post(body)
            if status == 202:
                self.acknowledged.extend(events)
                return
            self.refused += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"a batch was still refused ({status}) at the deadline")

    def _post(self, body: Any) -> int:
        self.attempts += 1
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            answer = httpx.post(f"{self.api.url}/v1/events", json=body, headers=headers, timeout=60)
        except httpx.TransportError:
            self.statuses[0] = self.statuses.get(0, 0) + 1
            time.sleep(0.2)  # the API is down: a client backs off before it retries
            return 0
        self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
        if answer.status_code == 503:
            retry_after = answer.headers.get("Retry-After")
            assert retry_after is not None and retry_after.isdigit(), answer.text
            time.sleep(min(float(retry_after), self.max_wait))
        elif answer.status_code != 202:
            raise AssertionError(f"unexpected {answer.status_code}: {answer.text[:500]}")
        return answer.status_code


def issue_partner_token(world: World, partner: str = "awo-en") -> str:
    from refnet.services.registry.tokens import issue_token

    async def issue() -> str:
        async with world.connection() as conn:
            return (await issue_token(conn, "partner", partner)).token

    token: str = run_sync(issue())
    return token


class Background(threading.Thread):
    """A thread whose exception is raised again by `result()`."""

    def __init__(self, target: Any) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # re-raised in the test's thread
            self.error = exc

    def result(self, timeout: float) -> None:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"the publishing thread did not end within {timeout:.0f}s")
        if self.error is not None:
            raise self.error


# ------------------------------------------------------------------ the verdict


@dataclass
class Verdict:
    """One row of the fault table."""

    fault: str
    sent: int
    acknowledged: int
    refused: int
    in_log: int
    log_records: int
    counted: tuple[int, int]
    expected: tuple[int, int]
    intact: bool
    discrepancies: dict[str, int]
    unused_numbers: int
    refused_batches: int = 0

    def row(self) -> str:
        counted = f"{self.counted[0]:,} / {self.counted[1]:,}"
        expected = f"{self.expected[0]:,} / {self.expected[1]:,}"
        verdict = "intact" if self.intact else f"NOT INTACT {self.discrepancies}"
        return (
            f"| {self.fault} | {self.sent:,} | {self.acknowledged:,} ({self.refused:,} refused "
            f"attempts) | {self.in_log:,} ({self.log_records:,} records) | {counted} "
            f"(expected {expected}) | {self.refused_batches} | {verdict}{self._unused()} |"
        )

    def _unused(self) -> str:
        return f", {self.unused_numbers} unused numbers accounted" if self.unused_numbers else ""


TABLE_HEAD = (
    "| fault | sent | acknowledged | in the log | counted: participants / placed "
    "| batches refused and sought back | verify |\n|---|---|---|---|---|---|---|"
)


def audit_verify(world: World) -> dict[str, Any]:
    """`refnet audit verify --json` as an operator runs it, against the world's settings."""
    argv = [sys.executable, "-m", "refnet.services.cli.main", "audit", "verify", "--json"]
    argv += ["--wait", "120"]
    done = subprocess.run(
        argv,
        env=settings_env(world.settings),
        capture_output=True,
        timeout=300,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise AssertionError(f"audit verify could not verify: {done.stderr.decode()[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    (world.log_dir / "verify.json").write_text(done.stdout.decode())  # beside the case's logs
    assert report["intact"] is (done.returncode == 0)
    return report


def refused_batches(world: World) -> int:
    rows = run_sync(
        world.fetch(
            "SELECT coalesce(sum(refused_batches), 0) FROM projection_workers "
            "WHERE consumer_group = $1",
            world.settings.consumer_group,
        )
    )
    return int(rows[0][0])


def conclude(
    world: World,
    fault: str,
    sent: Sequence[EventModel],
    acknowledged: Sequence[EventModel],
    refused: int = 0,
    wait: float = 240.0,
) -> Verdict:
    """Wait for the read model, compare it with the independent fold, verify, and record."""
    try:
        run_sync(world.wait(timeout=wait))
    except CatchUpTimeout as exc:
        raise AssertionError(f"{exc}\n{worker_report(world)}") from exc
    outcomes = run_sync(world.outcomes())
    logged = world.read_log()
    acked_ids = {str(e.event_id) for e in acknowledged}
    in_log = len(acked_ids & {str(e.event_id) for e in logged})
    report = audit_verify(world)
    verdict = Verdict(
        fault=fault,
        sent=len({str(e.event_id) for e in sent}),
        acknowledged=len(acked_ids),
        refused=refused,
        in_log=in_log,
        log_records=len(logged),
        counted=(outcomes.participants, outcomes.placed.total),
        expected=independent_fold(acknowledged),
        intact=report["intact"],
        discrepancies=report["counts"],
        unused_numbers=int(report.get("unused_numbers", 0)),
        refused_batches=refused_batches(world),
    )
    RESULTS.append(verdict)
    return verdict


def assert_nothing_lost(verdict: Verdict) -> None:
    """Every acknowledged event is in the log, counted as the contract says, and verify agrees."""
    assert verdict.in_log == verdict.acknowledged, verdict
    assert verdict.counted == verdict.expected, verdict
    assert verdict.intact, verdict
