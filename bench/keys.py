"""Signing keys for a benchmark run: made in its work folder, registered in its registry."""

from __future__ import annotations

from bench.workload import PARTNERS
from refnet.events.keystore import LocalKeys
from refnet.events.settings import Settings
from refnet.projections.database import connect_pool
from refnet.projections.migrate import migrate
from refnet.services.local_keys import ensure_partner_keys


async def provision(settings: Settings) -> LocalKeys:
    """A registered key for every partner the workload uses, as the demo does."""
    keys = LocalKeys(settings.keys_dir)
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            await ensure_partner_keys(conn, keys, PARTNERS)
    finally:
        await pool.close()
    return keys
