"""Waiting until the read model has applied everything in the log.

Callers (the demo, tests, benchmarks) wait on offsets, never on a fixed sleep:
this polls the lag until it is zero or the deadline passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from refnet.events.errors import RefNetError
from refnet.events.settings import Settings
from refnet.projections.store.database import Conn
from refnet.projections.worker.lag import partition_lag


class CatchUpTimeout(RefNetError):
    """The projection did not catch up in time (is the worker running?)."""


async def wait_caught_up(
    conn: Conn,
    settings: Settings,
    timeout: float = 120.0,
    on_progress: Callable[[int, int], None] | None = None,
    poll: float = 0.1,
) -> None:
    """Return once every partition's lag is zero; `on_progress(applied, end)` as it moves."""
    deadline = time.monotonic() + timeout
    while True:
        lags = await partition_lag(conn, settings)
        end = sum(p.end_offset for p in lags)
        behind = sum(p.lag for p in lags)
        if on_progress is not None:
            on_progress(end - behind, end)
        if behind == 0:
            return
        if time.monotonic() > deadline:
            raise CatchUpTimeout(
                f"projection still {behind} events behind after {timeout:.0f}s; "
                "is the worker running? (refnet stack status)"
            )
        await asyncio.sleep(poll)
