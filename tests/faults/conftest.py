"""The fault suite runs on the project's own local stack: it kills and restarts its parts.

The infrastructure and `world` fixtures are the integration tests' own; the
table of every case's verdict is printed at the end of the run and written to
`fault-table.md` in pytest's base temporary directory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from refnet.events.settings import Settings
from tests.faults import cluster
from tests.faults.harness import RESULTS, TABLE_HEAD, ServedApi
from tests.integration.conftest import _unavailable, infrastructure, world
from tests.integration.world import World

__all__ = ["infrastructure", "world"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`--long N` repeats every case N times."""
    if "repetition" in metafunc.fixturenames:
        times = int(metafunc.config.getoption("--long"))
        metafunc.parametrize("repetition", range(times), ids=[f"run{n}" for n in range(times)])


@pytest.fixture(autouse=True)
def _local_stack_only(infrastructure: str) -> None:
    if infrastructure != "local-stack":
        _unavailable("the fault suite breaks the local stack's own processes; none runs here")


@pytest.fixture
def api(world: World) -> Iterator[ServedApi]:
    """A `refnet serve` of the world, not yet started; stopped after the test, pass or fail."""
    served = ServedApi(world)
    yield served
    served.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    lines = [TABLE_HEAD, *(verdict.row() for verdict in RESULTS)]
    terminalreporter.write_sep("-", "fault suite")
    for line in lines:
        terminalreporter.write_line(line)
    base = terminalreporter.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    (base / "fault-table.md").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def cluster_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The three-node cluster, started once for the session's cluster cases, stopped after."""
    settings = Settings(**cluster.cluster_overrides(tmp_path_factory.mktemp("cluster")))
    try:
        cluster.start(settings)
    except Exception as exc:
        _unavailable(f"the three-node Kafka cluster did not come up: {exc}")
    yield settings
    cluster.stop(settings)


@pytest.fixture
def cluster_world(cluster_settings: Settings, tmp_path: Path) -> Iterator[World]:
    """A world (topics, group, schemas of its own) on the cluster; every node runs at start."""
    cluster.start(cluster_settings)  # a case before may have left a node down
    created = World.create(tmp_path, **cluster.cluster_overrides(cluster_settings.data_dir))
    yield created
    created.stop_all()
    cluster.start(cluster_settings)
    created.drop()
    asyncio.run(created.drop_schema())


@pytest.fixture
def cluster_api(cluster_world: World) -> Iterator[ServedApi]:
    served = ServedApi(cluster_world)
    yield served
    served.stop()
