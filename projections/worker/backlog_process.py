"""The bulk fold in a process of its own, so its memory is the system's again before the live
stream starts.

A bulk fold holds a chunk of records, their verdicts and the states of every
participant it touched; Python keeps such a heap once it has grown. Folding in
a child process and waiting for it leaves the live worker as small as if it
had started caught up. The child dies with its parent (a SIGKILL of the worker
must not leave a fold running beside the next one), reports each chunk and
its counts on stdout, one JSON object a line, and logs on stderr, which is the
worker's log.

    python -m refnet.projections.worker.backlog_process WORKER_ID LOGLEVEL < settings.json
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from refnet.events.logs import configure_logging
from refnet.events.settings import Settings
from refnet.projections.store.outcomes import BatchResult
from refnet.projections.worker.backlog import fold_backlog
from refnet.projections.worker.heartbeat import WorkerCounters
from refnet.projections.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def fold_backlog_apart(
    settings: Settings,
    counters: WorkerCounters,
    loglevel: str,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Run `fold_backlog` in a child process; add what it did to `counters` and, chunk by
    chunk as it goes, to `metrics` (the parent serves them: the child has no port).

    A child that fails leaves the backlog to the live stream, which resumes
    from the stored offsets: the bulk fold is an optimisation, never a step
    the worker depends on.
    """
    argv = [sys.executable, "-m", __name__, counters.worker_id, loglevel]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(settings.model_dump_json().encode())
    child.stdin.close()
    did: dict[str, Any] = {}
    for line in child.stdout:
        told = json.loads(line)
        if "chunk" in told and metrics is not None:
            chunk = told["chunk"]
            result = BatchResult(
                **chunk | {k: tuple(chunk[k]) for k in ("rejected_types", "dead_letter_reasons")}
            )
            metrics.batch(result, float(told["seconds"]))
            metrics.set_lag({int(p): int(n) for p, n in told["lag"].items()})
        elif "done" in told:
            did = told["done"]
    if child.wait() != 0:
        log.warning(
            "bulk fold ended with exit code %s; the live stream takes over", child.returncode
        )
        return
    counters.batches += int(did.get("batches", 0))
    counters.applied += int(did.get("applied", 0))
    counters.refused_batches += int(did.get("refused_batches", 0))
    if metrics is not None:
        metrics.refused_batches.inc(int(did.get("refused_batches", 0)))
        metrics.database_retries.inc(int(did.get("database_retries", 0)))


def _tell(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _die_with_parent() -> None:
    """Linux: the kernel ends this process when its parent ends (a SIGKILL included)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # elsewhere the parent's own stop ends it
        pass


def main() -> None:
    _die_with_parent()
    worker_id, loglevel = sys.argv[1], sys.argv[2]
    settings = Settings.model_validate_json(sys.stdin.buffer.read())
    configure_logging(loglevel, settings.log_format)  # on stderr, which is the worker's log
    # The parent's id and pid: one heartbeat row for the worker, whichever process beats.
    counters = WorkerCounters(settings.consumer_group, worker_id=worker_id, pid=os.getppid())

    def chunk(result: BatchResult, seconds: float, lag: dict[int, int]) -> None:
        _tell({"chunk": asdict(result), "seconds": seconds, "lag": lag})

    asyncio.run(fold_backlog(settings, counters, chunk))
    done = {
        "batches": counters.batches,
        "applied": counters.applied,
        "refused_batches": counters.refused_batches,
        "database_retries": counters.failures,
    }
    _tell({"done": done})


if __name__ == "__main__":
    main()
