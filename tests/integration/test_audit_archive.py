"""Archives on the real broker and database: export, verify-archive, restore.

The commands run as the `refnet` CLI with each world's settings; a restore goes
into a second world with a topic and registry of its own, so the restored log's
worker can verify its events only with the keys the archive carried.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner, Result

from refnet.events.catalogue import EventModel
from refnet.events.codec import decode
from refnet.events.publisher import producer_config, signed_records
from refnet.events.settings import Settings
from refnet.projections.worker.log_reader import read_log
from refnet.services.cli.main import app
from refnet.services.kafka.topics import high_watermarks
from refnet.services.localstack.process import settings_env
from tests.integration.world import T0, World, enrolled, history, new_pid, placed, run_sync

pytestmark = pytest.mark.integration

UNDECODABLE = b"\xff\xfe this is no event"
TABLES = ("participants", "referrals", "trainings", "partner_links", "rejections")
DAY_MS = 86_400_000


def audit(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(app, ["audit", *args], env=settings_env(settings))


def log_records(settings: Settings) -> list[tuple[Any, ...]]:
    """Every record of the event log as (partition, offset, key, value, timestamp)."""
    records = read_log(settings)
    return sorted((r.partition, r.offset, r.key, r.value, r.timestamp_ms) for r in records)


def manifest_of(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return manifest


def publish_at(world: World, events: Sequence[EventModel], stamp_ms: int) -> None:
    """Publish signed events with a chosen Kafka timestamp."""
    producer = Producer(producer_config(world.settings))
    for key, value in signed_records(events, world.keys.signer):
        producer.produce(world.settings.topic_events, value=value, key=key, timestamp=stamp_ms)
    assert producer.flush(30) == 0


@pytest.fixture
def fresh(world: World) -> Iterator[World]:
    """A second world whose topics do not exist yet and whose key registry is empty."""
    tag = uuid.uuid4().hex[:10]
    other = world.sibling(
        topic_events=f"test-{tag}",
        topic_dead_letter=f"test-{tag}-dead",
        registry_schema=f"test_{tag}_registry",
    )
    yield other
    other.dispose()


@pytest.fixture
def exported(world: World, tmp_path: Path) -> Path:
    """An archive of a history with retractions and one undecodable record."""
    events = history(60, new_pid("arc"))
    assert any(e.type == "event.retracted" for e in events)
    world.publish(events)
    world.publish_raw(b"raw-record", UNDECODABLE)
    folder = tmp_path / "archive"
    result = audit(world.settings, "export", str(folder))
    assert result.exit_code == 0, result.output
    assert f"archived {len(events) + 1} records" in result.output
    return folder


def first_file_with_records(folder: Path) -> str:
    name: str = next(f["name"] for f in manifest_of(folder)["files"] if f["records"])
    return name


def test_an_exported_history_verifies_and_restores_to_the_same_outcomes(
    world: World, fresh: World, exported: Path
) -> None:
    world.start_worker()
    manifest = manifest_of(exported)
    assert manifest["format"] == "refnet-archive/1"
    assert manifest["records"] == sum(manifest["log_ends"]) == world.log_size()

    verified = audit(world.settings, "verify-archive", str(exported), "--json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert (report["intact"], report["problems"], report["bad_signatures"]) == (True, [], [])
    assert report["events"] == manifest["records"] - 1
    assert [n["reason"].startswith("not an event") for n in report["not_events"]] == [True]
    assert report["chain_sha256"] == manifest["chain_sha256"]

    restored = audit(fresh.settings, "restore", str(exported))
    assert restored.exit_code == 0, restored.output
    # Record for record: partition, offset, key, value bytes and timestamp.
    assert log_records(fresh.settings) == log_records(world.settings)

    fresh.start_worker()
    run_sync(world.wait())
    run_sync(fresh.wait())
    original, rebuilt = run_sync(world.dump()), run_sync(fresh.dump())
    for table in TABLES:
        assert rebuilt[table] == original[table], table
    outcomes = run_sync(fresh.outcomes())
    assert outcomes == run_sync(world.outcomes())
    assert outcomes.participants == 60  # verified with the archive's keys alone


def test_a_changed_byte_fails_verification_and_restore(
    world: World, fresh: World, exported: Path
) -> None:
    name = first_file_with_records(exported)
    path = exported / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))

    verified = audit(world.settings, "verify-archive", str(exported))
    assert verified.exit_code == 1
    assert "NOT INTACT" in verified.output
    assert f"{name}: SHA-256 is " in verified.output

    restored = audit(fresh.settings, "restore", str(exported))
    assert restored.exit_code == 1
    assert "is not an intact archive; nothing was restored" in restored.output
    assert high_watermarks(fresh.settings, fresh.settings.topic_events) == {}


def test_a_changed_line_in_a_valid_gzip_is_caught_by_its_hash(world: World, exported: Path) -> None:
    name = first_file_with_records(exported)
    path = exported / name
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    first = json.loads(lines[0])
    first["timestamp_ms"] += 1  # not signed: only the file's hash can notice
    lines[0] = json.dumps(first, separators=(",", ":")).encode() + b"\n"
    size_before = path.stat().st_size
    path.write_bytes(gzip.compress(b"".join(lines)))
    # The new gzip may happen to be as long as the old one: then only the hash differs.
    resized = path.stat().st_size != size_before

    verified = audit(world.settings, "verify-archive", str(exported), "--json")
    assert verified.exit_code == 1
    report = json.loads(verified.stdout)
    assert [p["file"] for p in report["problems"]] == ([name, name] if resized else [name])
    assert report["problems"][0]["reason"].startswith("SHA-256 is ")
    if resized:
        assert report["problems"][1]["reason"].startswith("is ")  # and its size
    assert report["bad_signatures"] == []


def test_restore_refuses_a_topic_that_holds_records(world: World, exported: Path) -> None:
    before = world.log_size()
    restored = audit(world.settings, "restore", str(exported))
    assert restored.exit_code == 1
    assert f"topic {world.settings.topic_events} already holds {before} records" in restored.output
    assert world.log_size() == before


def test_export_refuses_a_directory_that_is_not_empty(world: World, exported: Path) -> None:
    again = audit(world.settings, "export", str(exported))
    assert again.exit_code == 1
    assert "is not empty" in again.output


def test_until_exports_each_partition_up_to_the_first_later_record(
    world: World, tmp_path: Path
) -> None:
    pids = [new_pid("until") for _ in range(12)]
    stamp = int(T0.timestamp() * 1000)
    early = [enrolled(pid) for pid in pids]
    publish_at(world, early, stamp)
    publish_at(world, [placed(pid) for pid in pids], stamp + 10 * DAY_MS)

    folder = tmp_path / "until"
    result = audit(world.settings, "export", str(folder), "--until", "2024-03-05")
    assert result.exit_code == 0, result.output
    manifest = manifest_of(folder)
    assert manifest["until"] == "2024-03-05T23:59:59.999000Z"
    assert (manifest["records"], sum(manifest["log_ends"])) == (12, 24)
    archived = set()
    for entry in manifest["files"]:
        with gzip.open(folder / entry["name"]) as stream:
            lines = [json.loads(line) for line in stream]
        assert [line["offset"] for line in lines] == list(range(entry["end_offset"]))
        archived |= {decode(line["value"].encode()).event_id for line in lines}
    assert archived == {e.event_id for e in early}
    assert audit(world.settings, "verify-archive", str(folder)).exit_code == 0

    # The cut-off is inclusive: a record stamped exactly at T belongs.
    exact = tmp_path / "exact"
    assert audit(world.settings, "export", str(exact), "--until", "2024-03-04T09:00").exit_code == 0
    assert manifest_of(exact)["records"] == 12
    before = tmp_path / "before"
    assert (
        audit(world.settings, "export", str(before), "--until", "2024-03-04T08:59:59").exit_code
        == 0
    )
    assert manifest_of(before)["records"] == 0
