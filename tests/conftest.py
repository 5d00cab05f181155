"""Options shared by every test folder."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store",
        type=int,
        default=1,
        metavar="N",
        help="run each fault case N times (tests/faults)",
    )
    parser.addoption(
        "--cluster",
        action="store_true",
        default=False,
        help="also run the fault suite on a three-node Kafka cluster (tests/faults; ~8 min)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The cluster's fault cases run only when asked for: they outlast the rest of CI."""
    if config.getoption("--cluster"):
        return
    later = pytest.mark.skip(reason="the three-node cluster's fault cases: pass --cluster")
    for item in items:
        if item.path.name == "test_cluster_faults.py":
            item.add_marker(later)
