"""Partners' keys kept by this installation: made, registered, and used to sign.

The demo and an operator publishing on a partner's behalf (`refnet publish`,
`refnet import`) sign with the keys in `REFNET_KEYS_DIR`; each key's public half
must be registered before its events reach the projections, or they are
dead-lettered as badly signed.
"""

from __future__ import annotations

from collections.abc import Iterable

from refnet.events.keystore import LocalKeys
from refnet.events.settings import Settings
from refnet.events.signing import SigningKey
from refnet.projections.store.database import Conn, connect_pool
from refnet.projections.store.migrate import migrate
from refnet.services.registry.keys import register_key


async def ensure_partner_keys(conn: Conn, keys: LocalKeys, partner_ids: Iterable[str]) -> list[str]:
    """Make a key for each partner that has none here, register every one; the new ones."""
    made = []
    for partner_id in sorted(set(partner_ids)):
        if not keys.has(partner_id):
            keys.create(partner_id)
            made.append(partner_id)
        key = SigningKey.load(keys.key_path(partner_id))
        await register_key(conn, key.public_key, partner_id, label="local key")
    return made


def local_keys(settings: Settings) -> LocalKeys:
    return LocalKeys(settings.keys_dir)


async def provision_keys(settings: Settings, partner_ids: Iterable[str]) -> list[str]:
    """`ensure_partner_keys` on its own connection, schemas migrated first."""
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            return await ensure_partner_keys(conn, local_keys(settings), partner_ids)
    finally:
        await pool.close()
