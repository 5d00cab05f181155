"""Where an audit gets the public keys it checks signatures with.

By default the registry in PostgreSQL; with a keys file (the `keys.json` of an
archive, or `refnet audit keys`'s output), none of the database at all, so an
auditor can replay the log on a machine that has only the log and the keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from refnet.events.errors import RefNetError
from refnet.events.settings import Settings
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.worker.signatures import KeyRing, key_documents


class KeysUnreadable(RefNetError):
    """The keys file cannot be read as a list of public keys."""


def keys_from_file(path: Path) -> KeyRing:
    """A key ring from a JSON list of key documents."""
    try:
        documents = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeysUnreadable(f"--keys {path}: cannot read a JSON key list ({exc})") from exc
    if not isinstance(documents, list):
        raise KeysUnreadable(f"--keys {path}: expected a JSON list of keys")
    return KeyRing.from_documents(documents)


async def registered_documents(settings: Settings) -> list[dict[str, Any]]:
    """Every registered key, in the portable form (none yet on a fresh database)."""
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            return await key_documents(conn)
    finally:
        await pool.close()


async def audit_keys(settings: Settings, keys_file: Path | None) -> KeyRing:
    """The keys from `keys_file` when given, otherwise from the registry."""
    if keys_file is not None:
        return keys_from_file(keys_file)
    return KeyRing.from_documents(await registered_documents(settings))
