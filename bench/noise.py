"""How busy the machine was with unrelated work during a phase (results are only as good as that).

Counts the CPU of every process that is neither this benchmark (its process tree) nor a
shared server (the Kafka broker, PostgreSQL), whose load cannot be split by client here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

SHARED = ("java", "postgres")


def _cpu() -> dict[int, float]:
    seen: dict[int, float] = {}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is not None and not (proc.info["name"] or "").startswith(SHARED):
            seen[proc.pid] = times.user + times.system
    return seen


class Phase:
    """Unrelated CPU (in cores) between `start()` and `stop()`."""

    def __init__(self) -> None:
        self._before: dict[int, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._before = _cpu()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        after = _cpu()
        mine = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
        busy = sum(t - self._before.get(pid, 0.0) for pid, t in after.items() if pid not in mine)
        seconds = time.monotonic() - self._started
        return {
            "seconds": seconds,
            "other_cores": busy / max(seconds, 1e-9),
            "load_1min": os.getloadavg()[0],
        }


@contextmanager
def watched(into: dict[str, dict[str, float]], name: str) -> Iterator[None]:
    """Record the unrelated load of the enclosed phase as `into[name]`."""
    phase = Phase()
    phase.start()
    try:
        yield
    finally:
        into[name] = phase.stop()
