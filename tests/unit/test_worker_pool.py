"""`projections run --workers N` gives each process a metrics port of its own."""

from __future__ import annotations

from refnet.events.settings import Settings
from refnet.services.cli.worker_pool import worker_env


def test_each_worker_of_a_pool_has_its_own_metrics_port() -> None:
    settings = Settings(worker_metrics_port=9300)
    ports = [worker_env(settings, i)["REFNET_WORKER_METRICS_PORT"] for i in range(3)]
    assert ports == ["9300", "9301", "9302"]
    assert worker_env(Settings(worker_metrics_port=0), 2)["REFNET_WORKER_METRICS_PORT"] == "0"
