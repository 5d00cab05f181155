"""Every row the log determines, table by table: what two read models must agree on.

A read model rebuilt from the log must equal the live one in these rows. Columns
stamped by the database clock (a rejection's `rejected_at`) are left out: they
say when a worker got there, not what the log says.
"""

from __future__ import annotations

from typing import Any

from refnet.projections.store.database import Conn

DERIVED: dict[str, str] = {
    "participant_state": "SELECT * FROM participant_state",
    "participants": "SELECT * FROM participants",
    "referrals": "SELECT * FROM referrals",
    "trainings": "SELECT * FROM trainings",
    "partner_links": "SELECT * FROM partner_links",
    "rejections": (
        "SELECT event_id, partner_id, participant_id, type, reason, occurred_at, recorded_at, "
        'partition, "offset" FROM rejections'
    ),
}


async def snapshot(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    """The derived rows of each table, in a stable order."""
    return {
        table: sorted((tuple(r) for r in await conn.fetch(sql)), key=repr)
        for table, sql in DERIVED.items()
    }
