"""The light client (`events/pyproject.toml`, distribution `refnet-client`) installed into a
fresh virtual environment, without the server's dependencies, publishing for real.

uv installs it at the versions `requirements.lock` pins; the environment then has no
faust, asyncpg, FastAPI or uvicorn, and its events, sent through Kafka and through
the API, are counted by the projection.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from refnet.services.localstack.process import settings_env
from refnet.services.registry.tokens import issue_token
from tests.integration.world import World, enrolled, new_pid
from tests.integration.world_serving import served_api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = {"faust-streaming", "asyncpg", "fastapi", "uvicorn", "starlette", "typer"}


def fresh_client_env(where: Path) -> Path:
    """A new virtual environment with only `refnet-client` (built from a copy of events/)."""
    source = where / "refnet-client"
    shutil.copytree(ROOT / "events", source, ignore=shutil.ignore_patterns("__pycache__"))
    uv = Path(sys.executable).parent / "uv"
    venv = where / "venv"
    subprocess.run([uv, "venv", "-q", venv, "--python", sys.executable], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", python, source, "-c", ROOT / "requirements.lock"],
        check=True, capture_output=True, cwd=where,
    )  # fmt: skip
    return python


def installed(python: Path, cwd: Path) -> set[str]:
    listing = (
        "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'])"
    )
    done = subprocess.run(
        [python, "-c", listing], capture_output=True, text=True, check=True, cwd=cwd
    )
    return {line.lower() for line in done.stdout.split()}


async def test_the_light_client_installs_alone_and_publishes_both_ways(
    world: World, tmp_path: Path
) -> None:
    python = fresh_client_env(tmp_path)
    names = installed(python, tmp_path)
    assert "refnet-client" in names and "confluent-kafka" in names and "httpx" in names
    assert not names & SERVER_ONLY, f"server dependencies in the client: {names & SERVER_ONLY}"
    assert "refnet" not in names

    world.start_worker()
    over_kafka = [enrolled(new_pid("lc"), partner="awo-en")]
    over_http = [
        enrolled(new_pid("lc"), partner="awo-en"),
        enrolled(new_pid("lc"), partner="awo-en"),
    ]
    async with world.connection() as conn:
        token = (await issue_token(conn, "partner", "awo-en")).token
    with served_api(world, tmp_path / "api.log") as base_url:
        order = {
            "over_kafka": [e.model_dump(mode="json", exclude_none=True) for e in over_kafka],
            "over_http": [e.model_dump(mode="json", exclude_none=True) for e in over_http],
            "keys_dir": str(world.settings.keys_dir),
            "base_url": base_url,
            "token": token,
        }
        env = {k: v for k, v in settings_env(world.settings).items() if k != "PYTHONPATH"}
        done = subprocess.run(
            [python, ROOT / "tests" / "integration" / "light_client_script.py"],
            input=json.dumps(order), capture_output=True, text=True, env=env, cwd=tmp_path,
            timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    told = json.loads(done.stdout)
    assert Path(told["package"]).is_relative_to(tmp_path / "venv")
    assert (told["kafka_delivered"], told["http_accepted"]) == (1, 2)
    assert told["http_duplicates_on_resend"] == 2
    await world.wait()
    assert (await world.outcomes()).participants == 3
    logged = {str(e.event_id): e for e in world.read_log()}
    assert logged[str(over_kafka[0].event_id)].publisher_id == "awo-en"  # the partner's key
    assert {logged[str(e.event_id)].publisher_id for e in over_http} == {"gateway"}
