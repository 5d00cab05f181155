"""With the broker or the database down, every command says so in one line: never a traceback.

The commands run in-process through Typer's runner with a dead address for the
part under test (a port that refuses at once); the other part is the real one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from refnet.events.settings import Settings
from refnet.services.cli.main import app
from refnet.services.localstack.process import settings_env

pytestmark = pytest.mark.integration

DEAD_BROKER = {"REFNET_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
DEAD_DATABASE = {"REFNET_DATABASE_URL": "postgresql://refnet:refnet@127.0.0.1:1/refnet"}

# Commands that need the broker, the database or both, with arguments that would work.
NEEDS_BROKER = [
    ["projections", "wait", "--timeout", "5"],
    ["projections", "reset", "--yes"],
    ["audit", "verify", "--log-only", "--wait", "1"],
    ["audit", "replay"],
    ["partners", "acls"],
]
NEEDS_DATABASE = [
    ["projections", "wait", "--timeout", "5"],
    ["projections", "reset", "--yes", "--force"],
    ["tokens", "list"],
    ["audit", "verify", "--wait", "1"],
    ["audit", "keys", "OUT"],
    ["partners", "keys", "list"],
]


def run(args: list[str], broken: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    settings = Settings(keys_dir=tmp_path / "keys", data_dir=tmp_path / "data")
    env = settings_env(settings) | broken
    args = [str(tmp_path / "out.json") if a == "OUT" else a for a in args]
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output


def assert_one_clear_line(code: int, output: str, args: list[str]) -> None:
    assert code not in (0, None), (args, output)
    assert "Traceback" not in output, (args, output)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, (args, output)


@pytest.mark.parametrize("args", NEEDS_BROKER, ids=" ".join)
def test_broker_down_is_one_line(args: list[str], tmp_path: Path) -> None:
    code, output = run(args, DEAD_BROKER, tmp_path)
    assert_one_clear_line(code, output, args)


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=" ".join)
def test_database_down_is_one_line(args: list[str], tmp_path: Path) -> None:
    code, output = run(args, DEAD_DATABASE, tmp_path)
    assert_one_clear_line(code, output, args)
