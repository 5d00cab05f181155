"""HTTP ingestion: events/s and latency of `POST /v1/events`, single events and batches.

Runs the real API (`refnet serve`, uvicorn, one process) against the local
stack on a topic and schemas of its own, posts enrolments as a partner with
`--concurrency` clients, and times each request from send to the gateway's
answer, which comes only after Kafka confirmed every event (`acks=all`).
Afterwards the log must hold exactly the events accepted.

    python -m bench.ingest [--singles 2000] [--batches 40] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import psutil

from bench.kafka_io import build, delete_topics
from bench.pg import drop_schemas
from bench.workload import enrolment, pseudonym
from refnet.events.settings import Settings
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.services.kafka.topics import ensure_topics, high_watermarks
from refnet.services.localstack.process import settings_env
from refnet.services.registry.tokens import issue_token

RESULTS = Path(__file__).resolve().parent / "results"
PARTNER = "awo-en"


@dataclass
class Phase:
    name: str
    requests: int
    events: int
    seconds: float
    latencies_ms: list[float]
    api_cpu_s: float  # user + system CPU of the API process during the phase

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "events": self.events,
            "seconds": self.seconds,
            "events_per_s": self.rate,
            "requests_per_s": self.requests / self.seconds,
            "p50_ms": statistics.median(self.latencies_ms),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(self.latencies_ms),
            "api_cpu_s": self.api_cpu_s,
            "api_cpu_ms_per_request": 1000 * self.api_cpu_s / self.requests,
            "api_cpu_ms_per_event": 1000 * self.api_cpu_s / self.events,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bodies(count: int, size: int, seed: str) -> list[bytes]:
    """`count` request bodies of `size` fresh enrolments by PARTNER (an object when size 1)."""
    rng = random.Random(seed)
    now = time.time()
    out = []
    for n in range(count):
        events = []
        for m in range(size):
            raw = enrolment(rng, pseudonym(seed, n * size + m), _now(now))
            raw["partner_id"], raw["site"] = PARTNER, "schwelm"
            events.append(build(raw).model_dump(mode="json", exclude_none=True))
        out.append(json.dumps(events[0] if size == 1 else events).encode())
    return out


def _now(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


async def post_all(
    client: httpx.AsyncClient, token: str, payloads: list[bytes], concurrency: int
) -> tuple[float, list[float], int]:
    """Post every payload with `concurrency` clients; (seconds, latencies ms, events accepted)."""
    queue = list(reversed(payloads))
    latencies: list[float] = []
    accepted = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client_loop() -> None:
        nonlocal accepted
        while queue:
            payload = queue.pop()
            began = time.perf_counter()
            answer = await client.post("/v1/events", content=payload, headers=headers)
            latencies.append((time.perf_counter() - began) * 1000)
            if answer.status_code != 202:
                raise RuntimeError(f"POST /v1/events: {answer.status_code} {answer.text[:300]}")
            accepted += answer.json()["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, accepted


async def prepare(settings: Settings) -> str:
    ensure_topics(settings)
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            issued = await issue_token(conn, "partner", PARTNER, label="ingest benchmark")
    finally:
        await pool.close()
    return issued.token


def start_server(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "refnet.services.cli.main", "serve"]
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT
        )


async def wait_ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the API exited while starting; see its log")
        try:
            if (await client.get("/openapi.json")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the API did not start within 60 s")


async def bench(args: argparse.Namespace, settings: Settings, workdir: Path) -> dict[str, Any]:
    token = await prepare(settings)
    server = start_server(settings, workdir / "api.log")
    base = f"http://127.0.0.1:{settings.api_port}"
    limits = httpx.Limits(max_connections=args.concurrency)
    phases: dict[str, Phase] = {}
    try:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
            await wait_ready(client, server)
            await post_all(client, token, bodies(50, 1, "warm-up"), args.concurrency)
            plans = (
                ("single events", args.singles, 1),
                (f"batches of {args.batch_size}", args.batches, args.batch_size),
            )
            for name, count, size in plans:
                payloads = bodies(count, size, f"{name}-{uuid.uuid4().hex[:6]}")
                cpu_before = _cpu(server.pid)
                seconds, latencies, accepted = await post_all(
                    client, token, payloads, args.concurrency
                )
                api_cpu = _cpu(server.pid) - cpu_before
                if accepted != count * size:
                    raise RuntimeError(f"{name}: {accepted} of {count * size} accepted")
                phases[name] = Phase(name, count, accepted, seconds, latencies, api_cpu)
                print(f"{name}: {accepted / seconds:,.0f} events/s", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    in_log = sum(high_watermarks(settings, settings.topic_events).values())
    expected = 50 + sum(p.events for p in phases.values())
    if in_log != expected:
        raise RuntimeError(f"the log holds {in_log} events, {expected} were accepted")
    return {"phases": {n: p.as_json() for n, p in phases.items()}, "log_events": in_log}


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'mode':<18} {'requests':>9} {'events':>8} {'events/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'API CPU ms/event':>17}",
    ]
    for name, p in results["phases"].items():
        lines.append(
            f"{name:<18} {p['requests']:>9,} {p['events']:>8,} {p['events_per_s']:>10,.0f} "
            f"{p['p50_ms']:>8.1f} {p['p99_ms']:>8.1f} {p['api_cpu_ms_per_event']:>17.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=2000, help="single-event requests")
    parser.add_argument("--batches", type=int, default=40, help="batch requests")
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    args = parser.parse_args(argv)
    tag = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix=f"refnet-ingest-{tag}-"))
    base = Settings()
    settings = base.model_copy(
        update={
            "topic_events": f"refnet.ingest.{tag}",
            "topic_dead_letter": f"refnet.ingest.{tag}.dead-letter",
            "read_model_schema": f"ingest_{tag}",
            "registry_schema": f"ingest_{tag}_registry",
            "keys_dir": workdir / "keys",
            "gateway_key_file": workdir / "keys" / "gateway.key",
            "gateway_publisher_id": f"bench-gateway-{tag}",
            "api_port": free_port(),
        }
    )
    command = "python -m bench.ingest " + shlex.join(argv if argv is not None else sys.argv[1:])
    try:
        results = asyncio.run(bench(args, settings, workdir))
    finally:
        delete_topics(settings, [settings.topic_events])
        asyncio.run(
            drop_schemas(
                settings.database_url, [settings.read_model_schema, settings.registry_schema]
            )
        )
        shutil.rmtree(workdir, ignore_errors=True)
    results |= {"command": command.strip(), "concurrency": args.concurrency, "cpus": os.cpu_count()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2))
    print()
    print(table(results))
    print(
        f"\nconcurrency: {args.concurrency} clients, one API process, cpus: {os.cpu_count()}; "
        f"log holds {results['log_events']:,} events, as accepted"
    )
    print(f"command: {results['command']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
