"""Emptying the read model so that its workers fold the log again from offset 0.

The offsets are locked first, in the order a worker's batch takes them, so a
reset and a running batch queue up instead of deadlocking; a running worker
then finds the offsets back at 0 and reads the log again.
"""

from __future__ import annotations

from refnet.projections.store.database import Conn
from refnet.projections.store.schema import (
    COUNTS,
    DEAD_LETTERS,
    DERIVED_TABLES,
    LOCK_ALL_OFFSETS,
    PROJECTION,
    REWIND_OFFSETS,
)

# Names from schema.py, never input.
_EMPTY = f"TRUNCATE {', '.join((*DERIVED_TABLES, COUNTS, DEAD_LETTERS))}"


async def reset_read_model(conn: Conn) -> None:
    """Empty the derived tables, kept counts and parked dead letters; rewind the offsets to 0."""
    async with conn.transaction():
        await conn.execute(LOCK_ALL_OFFSETS, PROJECTION)
        await conn.execute(_EMPTY)
        await conn.execute(REWIND_OFFSETS, PROJECTION)
