"""Sequence numbers given up are accounted for: a refused publish, a killed gateway.

Real `refnet serve` processes publish through the real broker; the registry's
record of unused numbers and blocks is read back, and `refnet audit verify`
must call the absent numbers unused (with their reason), not missing, and exit 0.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from refnet.events.catalogue import EventModel
from refnet.events.errors import PublishFailed
from refnet.events.publisher import Publisher, producer_config
from refnet.events.unused_numbers import ABANDONED_BY_CLIENT
from refnet.projections.audit.sequence_accounting import ABANDONED_BY_GATEWAY
from refnet.services.localstack.process import settings_env
from refnet.services.registry.tokens import issue_token
from refnet.services.registry.unused_ledger import PostgresUnusedLedger
from tests.integration.world import World, enrolled, new_pid, served_api, served_api_process

pytestmark = pytest.mark.integration


def body(*events: EventModel) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json", exclude_none=True) for e in events]


async def partner_token(world: World) -> dict[str, str]:
    async with world.connection() as conn:
        issued = await issue_token(conn, "partner", "awo-en")
    return {"Authorization": f"Bearer {issued.token}"}


async def post(base_url: str, headers: dict[str, str], count: int) -> httpx.Response:
    events = body(*[enrolled(new_pid("u")) for _ in range(count)])
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.post("/v1/events", json=events, headers=headers)


async def verify(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    """`refnet audit verify ARGS` as its own process, with the world's settings."""
    argv = [sys.executable, "-m", "refnet.services.cli.main", "audit", "verify", *args]
    env = settings_env(world.settings) | {"COLUMNS": "200"}
    return await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def verify_json(world: World) -> tuple[int, dict[str, Any]]:
    done = await verify(world, "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


async def blocks(world: World) -> list[tuple[Any, ...]]:
    return await world.fetch(
        "SELECT holder, first_sequence, end_sequence, state FROM sequence_blocks "
        "ORDER BY first_sequence"
    )


async def test_a_refused_publish_is_recorded_unused_and_verify_accounts_it(
    running: World, tmp_path: Path
) -> None:
    headers = await partner_token(running)
    # The same world's registry, but a broker that never answers: the publish is refused.
    dead = running.settings.model_copy(
        update={"kafka_bootstrap": "127.0.0.1:9", "ingest_publish_timeout": 2.0}
    )
    with served_api(World(dead, tmp_path), tmp_path / "dead-api.log") as url:
        refused = await post(url, headers, 1)
    assert refused.status_code == 503, refused.text
    [(publisher, first, last, reason)] = await running.fetch(
        "SELECT publisher_id, first_sequence, last_sequence, reason FROM unused_sequences"
    )
    assert (publisher, first, last) == ("gateway", 0, 0)
    assert reason.startswith("publish not confirmed: ")
    # The clean stop gave the rest of the block back: it shrank to the one number.
    assert [b[1:] for b in await blocks(running)] == [(0, 1, "closed")]

    with served_api(running, tmp_path / "api.log") as url:
        accepted = await post(url, headers, 2)
    assert accepted.status_code == 202, accepted.text
    assert sorted(e.sequence or 0 for e in running.read_log()) == [1, 2]
    await running.wait()

    code, report = await verify_json(running)
    assert code == 0, report["discrepancies"]
    assert report["intact"] and report["discrepancies"] == []
    [unused] = report["unused"]
    assert unused["kind"] == "sequence unused"
    assert unused["detail"]["ranges"] == [[0, 0]]
    assert unused["detail"]["reason"] == reason
    assert report["unused_numbers"] == 1
    shown = await verify(running)
    assert shown.returncode == 0, shown.stdout
    assert "sequence unused (1, accounted for, not missing)" in shown.stdout
    assert "publisher gateway: 1 unused (number 0): publish not confirmed: " in shown.stdout
    assert "INTACT" in shown.stdout and "(1 unused number accounted for)" in shown.stdout


async def wait_session_gone(world: World, holder: str, timeout: float = 30.0) -> None:
    """Until PostgreSQL has noticed the killed process's session is gone."""
    deadline = time.monotonic() + timeout
    sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
    while (await world.fetch(sql, holder))[0][0]:
        assert time.monotonic() < deadline, f"session {holder} still listed"
        await asyncio.sleep(0.05)


async def test_a_killed_gateway_s_block_is_abandoned_and_verify_is_intact(
    running: World, tmp_path: Path
) -> None:
    headers = await partner_token(running)
    with served_api_process(running, tmp_path / "killed-api.log") as (url, process):
        assert (await post(url, headers, 2)).status_code == 202
        [(holder, first, end, state)] = await blocks(running)
        assert (first, end, state) == (0, 1000, "open")
        running.kill(process)  # SIGKILL: no give-back, the block stays open
    await wait_session_gone(running, holder)

    with served_api(running, tmp_path / "api.log") as url:
        assert (await post(url, headers, 1)).status_code == 202
        rows = await blocks(running)
        assert [(r[0] == holder, r[1], r[2], r[3]) for r in rows] == [
            (True, 0, 1000, "abandoned"),
            (False, 1000, 2000, "open"),
        ]
    assert sorted(e.sequence or 0 for e in running.read_log()) == [0, 1, 1000]
    await running.wait()

    code, report = await verify_json(running)
    assert code == 0, report["discrepancies"]
    [unused] = report["unused"]
    assert unused["detail"]["ranges"] == [[2, 999]]
    assert unused["detail"]["reason"] == ABANDONED_BY_GATEWAY
    # The restarted gateway stopped cleanly: its block shrank to what it used, and closed.
    assert [b[1:] for b in await blocks(running)] == [
        (0, 1000, "abandoned"),
        (1000, 1001, "closed"),
    ]


async def test_a_client_reports_a_refused_publish_and_what_a_dead_process_left_open(
    running: World, tmp_path: Path
) -> None:
    ledger = PostgresUnusedLedger(running.settings)
    dead = running.settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:9"})
    producer = Producer(producer_config(dead, **{"message.timeout.ms": 2000}))
    refusing = Publisher(dead, producer, signer_for=running.keys.signer, ledger=ledger)
    with pytest.raises(PublishFailed):
        refusing.publish([enrolled(new_pid("u"), partner="bobeq")], timeout=10)
    # A process that reserved numbers 1..3 and died before publishing them.
    sequence = running.settings.keys_dir / "bobeq.sequence"
    reserve = (
        "import pathlib, refnet.events.signing as s; "
        f"s.FileSequence(pathlib.Path({str(sequence)!r})).reserve(3)"
    )
    subprocess.run([sys.executable, "-c", reserve], check=True, timeout=60)

    lines = tmp_path / "events.jsonl"
    lines.write_text(enrolled(new_pid("u"), partner="bobeq").model_dump_json() + "\n")
    argv = [sys.executable, "-m", "refnet.services.cli.main", "publish", str(lines)]
    env = settings_env(running.settings)
    published = await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert published.returncode == 0, published.stderr
    recorded = await running.fetch(
        "SELECT first_sequence, last_sequence, reason FROM unused_sequences "
        "WHERE publisher_id = 'bobeq' ORDER BY first_sequence"
    )
    assert [(r[0], r[1]) for r in recorded] == [(0, 0), (1, 3)]
    assert recorded[0][2].startswith("publish not confirmed: ")
    assert recorded[1][2] == ABANDONED_BY_CLIENT
    assert [e.sequence for e in running.read_log()] == [4]
    await running.wait()

    code, report = await verify_json(running)
    assert code == 0, report["discrepancies"]
    assert [(u["detail"]["ranges"], u["detail"]["reason"]) for u in report["unused"]] == [
        ([[0, 0]], recorded[0][2]),
        ([[1, 3]], ABANDONED_BY_CLIENT),
    ]


def spawned_children(pid: int) -> list[str]:
    """The worker processes uvicorn spawned under `pid` (not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    lines = [Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ") for child in children]
    return [line.decode() for line in lines if b"spawn_main" in line]


async def test_api_processes_sharing_a_port_number_their_events_apart(
    running: World, tmp_path: Path
) -> None:
    """`refnet serve --workers 2`: each process reserves its own blocks; nothing collides."""
    headers = await partner_token(running)
    with served_api_process(running, tmp_path / "api.log", workers=2) as (url, process):
        assert len(spawned_children(process.pid)) == 2
        answers = await asyncio.gather(*(post(url, headers, 5) for _ in range(24)))
        assert [a.status_code for a in answers] == [202] * 24, [a.text for a in answers]
        # Each process counts its own; a scrape, whichever answers it, adds them up.
        scrape = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
            for s in family.samples
        }
        assert scrape[("refnet_api_ingested_events_total", (("status", "accepted"),))] == 120
    sequences = [e.sequence for e in running.read_log()]
    assert len(sequences) == len(set(sequences)) == 120
    await running.wait()
    assert (await running.outcomes()).participants == 120
    code, report = await verify_json(running)
    assert code == 0, report["discrepancies"]
    assert report["intact"] and report["discrepancies"] == []
