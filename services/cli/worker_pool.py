"""`refnet projections run --workers N`: N worker processes in one consumer group.

Kafka spreads the partitions over the group; each process is an ordinary
worker (its own pool, its own presence lock and heartbeat row, its own
metrics port: REFNET_WORKER_METRICS_PORT + i). A worker that ends is started
again after a pause that doubles up to 30 s: a worker stops on purpose when
it cannot go on (`EX_SOFTWARE`) and resumes from the offsets stored with the
read model, so restarting it is all a supervisor has to do. SIGTERM or Ctrl-C
stops every process and waits for them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from refnet.events.settings import Settings

log = logging.getLogger(__name__)
MAX_PAUSE_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0  # a worker that ran this long starts its next pause afresh


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    pause: float = 1.0
    due: float = field(default=0.0)


def worker_env(settings: Settings, index: int) -> dict[str, str]:
    """The environment of worker `index`: the caller's, with a metrics port of its own."""
    port = settings.worker_metrics_port
    return dict(os.environ) | {"REFNET_WORKER_METRICS_PORT": str(port + index if port else 0)}


def run_pool(settings: Settings, workers: int, loglevel: str) -> int:
    """Run and restart `workers` worker processes until SIGTERM or SIGINT; the exit code."""
    argv = [sys.executable, "-m", "refnet.services.cli.main", "projections", "run"]
    argv += ["--loglevel", loglevel]
    slots = [_Slot(i) for i in range(workers)]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping:
            now = time.monotonic()
            for slot in slots:
                _tend(slot, argv, settings, now)
            time.sleep(0.2)  # polling the children: no SIGCHLD handling to get wrong
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop_all(slots)
    return 0


def _tend(slot: _Slot, argv: list[str], settings: Settings, now: float) -> None:
    if slot.process is not None:
        code = slot.process.poll()
        if code is None:
            return
        ran = now - slot.started
        slot.pause = 1.0 if ran > HEALTHY_AFTER_SECONDS else min(slot.pause * 2, MAX_PAUSE_SECONDS)
        log.warning(
            "worker %d (pid %d) ended with %s after %.0f s; starting it again in %.0f s",
            slot.index,
            slot.process.pid,
            code,
            ran,
            slot.pause,
        )
        slot.process = None
        slot.due = now + slot.pause
    if now >= slot.due:
        slot.process = subprocess.Popen(argv, env=worker_env(settings, slot.index))
        slot.started = now
        log.info("worker %d started (pid %d)", slot.index, slot.process.pid)


def _stop_all(slots: list[_Slot]) -> None:
    running = [s.process for s in slots if s.process is not None and s.process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error(
                "worker pid %d did not stop within %.0f s; killed",
                process.pid,
                STOP_TIMEOUT_SECONDS,
            )
            process.kill()
            process.wait()
