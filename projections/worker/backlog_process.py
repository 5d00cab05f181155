"""The bulk fold in a process of its own, so its memory is the system's again before the live
stream starts.

A bulk fold holds a chunk of records, their verdicts and the states of every
participant it touched; Python keeps such a heap once it has grown. Folding in
a child process and waiting for it leaves the live worker as small as if it
had started caught up. The child dies with its parent (a SIGKILL of the worker
must not leave a fold running beside the next one), reports its counts on
stdout, and logs on stderr, which is the worker's log.

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

from refnet.events.logs import configure_logging
from refnet.events.settings import Settings
from refnet.projections.worker.backlog import fold_backlog
from refnet.projections.worker.heartbeat import WorkerCounters

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def fold_backlog_apart(settings: Settings, counters: WorkerCounters, loglevel: str) -> None:
    """Run `fold_backlog` in a child process and add what it did to `counters`.

    A child that fails leaves the backlog to the live stream, which resumes
    from the stored offsets: the bulk fold is an optimisation, never a step
    the worker depends on.
    """
    argv = [sys.executable, "-m", __name__, counters.worker_id, loglevel]
    done = subprocess.run(
        argv, input=settings.model_dump_json().encode(), stdout=subprocess.PIPE, check=False
    )
    if done.returncode != 0:
        log.warning(
            "bulk fold ended with exit code %s; the live stream takes over", done.returncode
        )
        return
    lines = done.stdout.decode().strip().splitlines()
    did = json.loads(lines[-1]) if lines else {}
    counters.batches += int(did.get("batches", 0))
    counters.applied += int(did.get("applied", 0))
    counters.refused_batches += int(did.get("refused_batches", 0))


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
    asyncio.run(fold_backlog(settings, counters))
    did = {
        "batches": counters.batches,
        "applied": counters.applied,
        "refused_batches": counters.refused_batches,
    }
    sys.stdout.write(json.dumps(did) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
