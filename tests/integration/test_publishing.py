"""Publishing to the real broker: the CLI's all-or-nothing files and the asyncio publisher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refnet.events.codec import to_canonical_dict
from refnet.events.publisher import AsyncPublisher
from refnet.services.cli.main import app
from refnet.services.kafka.topics import high_watermarks
from refnet.services.localstack.process import settings_env
from tests.integration.world import World, enrolled, placed

pytestmark = pytest.mark.integration


def published(world: World) -> int:
    return sum(high_watermarks(world.settings, world.settings.topic_events).values())


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_file_with_an_invalid_line_publishes_nothing(world: World, tmp_path: Path) -> None:
    good = json.dumps(to_canonical_dict(enrolled("p-cli-000001")))
    bad = json.loads(good) | {"participant_id": "Max Mustermann"}
    path = write_lines(tmp_path / "events.jsonl", [good, json.dumps(bad), "{not json"])
    result = CliRunner().invoke(app, ["publish", str(path)], env=settings_env(world.settings))
    assert result.exit_code == 1
    assert "line 2: participant_id" in result.output
    assert "line 3" in result.output
    assert "nothing was published" in result.output
    assert published(world) == 0


def test_a_valid_file_is_published_whole(world: World, tmp_path: Path) -> None:
    events = [enrolled(f"p-cli-{n:06d}") for n in range(25)]
    lines = [json.dumps(to_canonical_dict(e)) for e in events]
    path = write_lines(tmp_path / "events.jsonl", lines)
    result = CliRunner().invoke(app, ["publish", str(path)], env=settings_env(world.settings))
    assert result.exit_code == 0, result.output
    assert published(world) == 25


async def test_async_publisher_confirms_every_event(world: World) -> None:
    publisher = AsyncPublisher(world.settings)
    try:
        confirmed = await publisher.publish([enrolled("p-aio-000001"), placed("p-aio-000001")])
    finally:
        await publisher.close()
    assert confirmed == 2
    assert published(world) == 2
