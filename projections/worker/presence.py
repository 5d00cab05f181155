"""A running worker's presence, as PostgreSQL sees it: a shared advisory lock held for life.

A worker is in the consumer group only once faust has joined it; while it folds
a backlog in bulk, or between that and joining, the broker does not know it.
So each worker process holds a shared advisory lock named after its read model
and group on a connection of its own, from its start until it ends (a killed
process's connection closes, and the lock with it). `projections reset` asks
for holders before it empties anything.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib

from refnet.events.settings import Settings
from refnet.projections.store.database import Conn, connect_pool

log = logging.getLogger(__name__)
_CLASS = 0x5EF_0C5  # advisory lock class of worker presence; the key names read model + group


def _key(settings: Settings) -> int:
    name = f"{settings.read_model_schema}/{settings.consumer_group}"
    return zlib.crc32(name.encode()) & 0x7FFF_FFFF


async def present_workers(conn: Conn, settings: Settings) -> list[int]:
    """PostgreSQL backend pids holding the presence of a worker of this read model and group."""
    rows = await conn.fetch(
        "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = $1::oid AND objid = $2::oid AND objsubid = 2",
        _CLASS,
        _key(settings),
    )
    return sorted(int(r["pid"]) for r in rows)


async def _hold(settings: Settings) -> None:
    """Hold the lock; take it again whenever the connection is lost (PostgreSQL restarts)."""
    delay = 0.5
    while True:
        try:
            pool = await connect_pool(settings, min_size=1, max_size=1)
            try:
                async with pool.acquire() as conn:
                    await conn.execute(
                        "SELECT pg_advisory_lock_shared($1, $2)", _CLASS, _key(settings)
                    )
                    delay = 0.5
                    while True:
                        await asyncio.sleep(5.0)
                        await conn.fetchval("SELECT 1")  # notice a lost connection
            finally:
                pool.terminate()
        except Exception as exc:  # the database is away: the worker's own retries report it
            log.debug("presence lock not held: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def hold_presence(settings: Settings) -> None:
    """Hold this process's presence for its lifetime, in a daemon thread of its own."""
    thread = threading.Thread(
        target=lambda: asyncio.run(_hold(settings)), name="refnet-presence", daemon=True
    )
    thread.start()
