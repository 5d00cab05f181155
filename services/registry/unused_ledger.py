"""The Python client's ledger of unused sequence numbers, kept in the registry's PostgreSQL.

`Publisher` is synchronous; each report runs on its own short connection, in a
thread of its own, and returns only once the numbers are committed (or raises).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from refnet.events.settings import Settings
from refnet.projections.audit.sequence_ledger import record_unused
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate


class PostgresUnusedLedger:
    """`UnusedLedger` over the registry's `unused_sequences` table."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def record_unused(
        self, publisher_id: str, spans: Sequence[tuple[int, int]], reason: str
    ) -> None:
        # A thread of its own: the caller may itself be inside an event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._record(publisher_id, list(spans), reason)).result()

    async def _record(self, publisher_id: str, spans: list[tuple[int, int]], reason: str) -> None:
        settings = self._settings
        pool = await connect_pool(settings, max_size=1)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, settings.read_model_schema, settings.registry_schema)
                await record_unused(conn, publisher_id, spans, reason)
        finally:
            await pool.close()
