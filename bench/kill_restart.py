"""SIGKILL the projection worker mid-stream, restart it, and compare with a rebuild from empty.

    python -m bench.kill_restart [--events 200000] [--kill-at 0.4]

Prints when the worker was killed, how long the restart took to catch up, and
each read-model table's row count and whether it equals the rebuild's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.kafka_io import delete_groups, delete_topics, validated_publish
from bench.pg import connect, drop_schemas
from bench.workload import PARTNERS, history
from refnet.events.settings import Settings
from refnet.projections.audit.snapshot import DERIVED, snapshot
from refnet.projections.store.migrate import migrate
from refnet.projections.worker.catchup import wait_caught_up
from refnet.services.kafka.topics import ensure_topics
from refnet.services.localstack.process import settings_env
from refnet.services.registry.local_keys import provision_keys

WORKER = [sys.executable, "-m", "refnet.services.cli.main", "projections", "run"]


def start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        WORKER, env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT
    )


async def applied(settings: Settings) -> int:
    conn = await connect(settings.database_url, settings.read_model_schema)
    try:
        return int(
            await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM projection_offsets")
        )
    except Exception:  # the worker has not created its schema yet
        return 0
    finally:
        await conn.close()


async def caught_up(settings: Settings) -> float:
    began = time.monotonic()
    conn = await connect(settings.database_url, settings.read_model_schema)
    try:
        await migrate(
            conn, settings.read_model_schema, settings.registry_schema
        )  # the worker may not have yet
        await wait_caught_up(conn, settings, timeout=1800)
    finally:
        await conn.close()
    return time.monotonic() - began


async def dump(settings: Settings) -> dict[str, list[Any]]:
    conn = await connect(settings.database_url, settings.read_model_schema)
    try:
        return await snapshot(conn)
    finally:
        await conn.close()


async def run(events: int, kill_at: float, workdir: Path) -> bool:
    tag = uuid.uuid4().hex[:8]
    live = Settings(
        topic_events=f"refnet.kill.{tag}",
        topic_dead_letter=f"refnet.kill.{tag}.dead-letter",
        consumer_group=f"refnet-kill-{tag}-live",
        read_model_schema=f"kill_{tag}_live",
        registry_schema=f"kill_{tag}_registry",
        keys_dir=workdir / "keys",
    )
    rebuild = live.model_copy(
        update={
            "consumer_group": f"refnet-kill-{tag}-rebuild",
            "read_model_schema": f"kill_{tag}_rebuild",
        }
    )
    ensure_topics(live)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await provision_keys(live, PARTNERS)
        seconds = validated_publish(live, history(events, max(1, events // 10)))
        print(f"published {events:,} events in {seconds:.1f} s")
        worker = start(live, workdir / "live.log")
        workers.append(worker)
        began = time.monotonic()
        while (done := await applied(live)) < kill_at * events:
            await asyncio.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        print(f"SIGKILL after {time.monotonic() - began:.1f} s with {done:,} of {events:,} applied")
        workers.append(start(live, workdir / "live.log"))
        print(f"restarted worker caught up in {await caught_up(live):.1f} s")
        workers.append(start(rebuild, workdir / "rebuild.log"))
        print(f"rebuild from empty caught up in {await caught_up(rebuild):.1f} s")
        killed, fresh = await dump(live), await dump(rebuild)
        for table in DERIVED:
            same = "identical" if killed[table] == fresh[table] else "DIFFERENT"
            print(f"  {table:18} {len(killed[table]):>8,} rows  {same}")
        return killed == fresh
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
        delete_topics(live, [live.topic_events])
        delete_groups(live, [live.consumer_group, rebuild.consumer_group])
        schemas = [live.read_model_schema, rebuild.read_model_schema, live.registry_schema]
        await drop_schemas(live.database_url, schemas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction applied at the kill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        equal = asyncio.run(run(args.events, args.kill_at, Path(workdir)))
    print("read model after SIGKILL + restart", "EQUALS" if equal else "DIFFERS FROM", "a rebuild")
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
