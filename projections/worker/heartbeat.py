"""Each projection worker's heartbeat and counters, and how health judges them.

A worker writes its row every HEARTBEAT_SECONDS: batches applied, batches
refused for not continuing the stored offsets (each one a seek back), and for
how long it has held records it could not apply. Readers judge a worker gone
when its heartbeat is older than GONE_AFTER, and stuck when it has failed to
apply anything for longer than the stall limit: the two ways a projection can
look up and still make no progress.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from refnet.projections.store.database import Conn

HEARTBEAT_SECONDS = 5.0
GONE_AFTER = 3 * HEARTBEAT_SECONDS

_BEAT = """
INSERT INTO projection_workers AS w (
  worker_id, consumer_group, host, pid, started_at, heartbeat_at, partitions, batches, applied,
  refused_batches, last_refusal, stuck_seconds, last_error
) VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5), now(), $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (worker_id) DO UPDATE SET
  heartbeat_at = now(), partitions = $6, batches = $7, applied = $8, refused_batches = $9,
  last_refusal = $10, stuck_seconds = $11, last_error = $12
"""
_READ = """
SELECT worker_id, host, pid, started_at, heartbeat_at, partitions, batches, applied,
       refused_batches, last_refusal, stuck_seconds, last_error,
       extract(epoch FROM now() - heartbeat_at)::float8 AS silent_seconds
FROM projection_workers WHERE consumer_group = $1 ORDER BY started_at, worker_id
"""
# Rows of workers gone for a day are history nobody reads: each starting worker prunes them.
_PRUNE = "DELETE FROM projection_workers WHERE heartbeat_at < now() - interval '1 day'"


@dataclass
class WorkerCounters:
    """What one worker process has done, kept in memory and written with each heartbeat."""

    group: str
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    partitions: list[int] = field(default_factory=list)
    batches: int = 0
    applied: int = 0
    refused_batches: int = 0
    failures: int = 0  # batches the database could not take (each retried)
    last_refusal: str | None = None
    last_error: str | None = None
    _started: float = field(default_factory=time.monotonic)
    _stuck_since: float | None = None
    _pruned: bool = False

    def progressed(self, applied: int) -> None:
        """A batch was applied: whatever held the worker up is over."""
        self.batches += 1
        self.applied += applied
        self._stuck_since = None
        self.last_error = None

    def refused(self, reason: str) -> None:
        self.refused_batches += 1
        self.last_refusal = reason
        self._stuck()

    def failed(self, error: str) -> None:
        """A batch could not be written (the database is down or failing)."""
        self.failures += 1
        self.last_error = error
        self._stuck()

    def _stuck(self) -> None:
        if self._stuck_since is None:
            self._stuck_since = time.monotonic()

    @property
    def stuck_seconds(self) -> float:
        return 0.0 if self._stuck_since is None else time.monotonic() - self._stuck_since

    async def beat(self, conn: Conn) -> None:
        """Write this worker's row (the database's clock stamps it); the first prunes old ones."""
        if not self._pruned:
            await conn.execute(_PRUNE)
            self._pruned = True
        await conn.execute(
            _BEAT,
            self.worker_id,
            self.group,
            self.host,
            self.pid,
            time.monotonic() - self._started,
            sorted(self.partitions),
            self.batches,
            self.applied,
            self.refused_batches,
            self.last_refusal,
            self.stuck_seconds,
            self.last_error,
        )


class WorkerStatus(BaseModel):
    """One projection worker as its last heartbeat described it."""

    model_config = ConfigDict(frozen=True)

    worker_id: str
    host: str
    pid: int
    state: str = Field(description="`ok`, `stuck` (holds events it cannot apply) or `gone`")
    partitions: list[int]
    batches: int
    applied: int
    refused_batches: int = Field(
        description="batches refused for skipping offsets not yet applied; each one a seek back"
    )
    last_refusal: str | None
    stuck_seconds: float
    last_error: str | None
    silent_seconds: float = Field(description="seconds since its last heartbeat")


async def worker_statuses(conn: Conn, group: str, stall_after: float) -> list[WorkerStatus]:
    """The workers of `group` that reported, oldest first, each judged ok, stuck or gone."""
    statuses = []
    for row in await conn.fetch(_READ, group):
        values = dict(row)
        del values["started_at"], values["heartbeat_at"]
        state = "ok"
        if row["silent_seconds"] > GONE_AFTER:
            state = "gone"
        elif row["stuck_seconds"] > stall_after:
            state = "stuck"
        statuses.append(WorkerStatus(state=state, **values))
    return statuses


def projection_verdict(workers: list[WorkerStatus], lag: int | None) -> tuple[bool | None, str]:
    """(up, detail) of the projection: False when a worker is stuck or events wait for none.

    None when no worker runs and nothing waits (or the lag is unknown): idle, not failing.
    """
    live = [w for w in workers if w.state != "gone"]
    stuck = [w for w in live if w.state == "stuck"]
    refused = sum(w.refused_batches for w in live)
    if stuck:
        what = "; ".join(
            f"{w.worker_id} on {w.host} (pid {w.pid}) for {w.stuck_seconds:.0f} s: "
            f"{w.last_error or w.last_refusal or 'no progress'}"
            for w in stuck
        )
        return False, f"{len(stuck)} of {_workers(len(live))} make no progress: {what}"
    if not live:
        if lag:
            return False, f"no worker is running and {lag} events wait in the log"
        return None, "no worker is running"
    return True, f"{_workers(len(live))} running; {refused} batches refused and sought back"


def _workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"
