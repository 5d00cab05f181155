"""Every row the log determines, table by table: what two read models must agree on.

A read model rebuilt from the log must equal the live one in these rows. Columns
stamped by the database clock (a rejection's `rejected_at`) are left out: they
say when a worker got there, not what the log says.
"""

from __future__ import annotations

from typing import Any

from refnet.projections.store.database import Conn
from refnet.projections.store.schema import DERIVED_TABLES

_CLOCK_STAMPED = {  # tables with a column the database clock stamps: the rest of it
    "rejections": (
        "SELECT event_id, partner_id, participant_id, type, reason, occurred_at, recorded_at, "
        'partition, "offset" FROM rejections'
    ),
}
DERIVED: dict[str, str] = {
    table: _CLOCK_STAMPED.get(table, f"SELECT * FROM {table}") for table in DERIVED_TABLES
}


async def snapshot(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    """The derived rows of each table, in a stable order."""
    return {
        table: sorted((tuple(r) for r in await conn.fetch(sql)), key=repr)
        for table, sql in DERIVED.items()
    }
