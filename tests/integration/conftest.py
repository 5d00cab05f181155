"""Infrastructure for the integration tests: a real Kafka broker and a real PostgreSQL.

In order of preference: endpoints given in REFNET_KAFKA_BOOTSTRAP and
REFNET_DATABASE_URL; containers through testcontainers where a Docker engine
answers; otherwise the project's own local stack (`refnet stack up`). Under
CI=true a test that cannot reach its infrastructure fails; it never skips.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.localstack import stack
from refnet.services.localstack.kafka import broker_answers
from tests.integration.api_client import BASE
from tests.integration.world import World

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"integration infrastructure unavailable under CI: {reason}")
    pytest.skip(f"integration infrastructure unavailable: {reason}")


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "info"], capture_output=True, check=False, timeout=20)
    return probe.returncode == 0


def _given_endpoints() -> bool:
    given = "REFNET_KAFKA_BOOTSTRAP" in os.environ and "REFNET_DATABASE_URL" in os.environ
    return given and broker_answers(os.environ["REFNET_KAFKA_BOOTSTRAP"])


@pytest.fixture(scope="session", autouse=True)
def infrastructure() -> Iterator[str]:
    """Make Settings() point at a live broker and database; yields which source it used."""
    if _given_endpoints():
        yield "given"
        return
    if _docker_answers():
        yield from _containers()
        return
    try:
        report = asyncio.run(stack.up(Settings()))
    except Exception as exc:  # any failure to provision is reported, never hidden
        _unavailable(f"local stack did not come up: {exc}")
        return
    os.environ["REFNET_DATABASE_URL"] = report.database_url
    yield "local-stack"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """An isolated topic pair, consumer group and read-model schema, removed afterwards."""
    created = World.create(tmp_path)
    yield created
    created.stop_all()
    created.drop()
    asyncio.run(created.drop_schema())


@pytest.fixture
async def running(world: World) -> AsyncIterator[World]:
    """A world with one projection worker running."""
    world.start_worker()
    yield world


@pytest.fixture
async def app(world: World) -> AsyncIterator[FastAPI]:
    """The API over the world's settings, its lifespan entered as uvicorn would."""
    application = create_app(world.settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` over the ASGI transport (no port, no server process)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


def _containers() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer().with_kraft() as kafka, PostgresContainer("postgres:15") as pg:
        os.environ["REFNET_KAFKA_BOOTSTRAP"] = kafka.get_bootstrap_server()
        os.environ["REFNET_DATABASE_URL"] = pg.get_connection_url(driver=None)
        stack.ensure_topics(Settings())
        yield "testcontainers"
