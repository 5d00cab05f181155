"""The registry of public signing keys: register, retire, list.

The projections verify every event against these keys (see
`refnet.projections.worker.signatures`); this module is how keys get there, from the
`refnet partners keys` commands, the demo, and the gateway at start-up.

    RefNetError            (refnet.events.errors)
    └── KeyRegistryError   a key could not be registered or retired
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg

from refnet.events.errors import RefNetError
from refnet.events.signing import SigningKey, b64url, key_id_of, parse_public_key
from refnet.projections.store.database import Conn

log = logging.getLogger(__name__)

SignerRole = Literal["partner", "gateway"]

_REGISTER = """
INSERT INTO signing_keys (key_id, signer, partner_id, public_key, label)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key_id) DO NOTHING
RETURNING key_id
"""
_OWNER = "SELECT signer, partner_id, retired_at FROM signing_keys WHERE key_id = $1"
# Idempotent: retiring twice keeps the first retirement time.
_RETIRE = """
UPDATE signing_keys SET retired_at = coalesce(retired_at, coalesce($2, now()))
WHERE key_id = $1 RETURNING retired_at
"""
_LIST = """
SELECT key_id, signer, partner_id, public_key, label, registered_at, retired_at
FROM signing_keys ORDER BY coalesce(partner_id, ''), registered_at
"""


class KeyRegistryError(RefNetError):
    """A key could not be registered or retired."""


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    signer: SignerRole
    partner_id: str | None
    public_key: str  # base64url
    label: str | None
    registered_at: datetime
    retired_at: datetime | None


async def register_key(
    conn: Conn,
    public_key: bytes,
    partner_id: str | None,
    label: str | None = None,
) -> str:
    """Register a partner's key (or, with `partner_id=None`, a gateway key); idempotent.

    Registering the same key again for the same owner is a no-op; the same key
    for another owner is refused, or one partner could vouch for another.
    """
    key_id = key_id_of(public_key)
    signer: SignerRole = "gateway" if partner_id is None else "partner"
    try:
        inserted = await conn.fetchval(_REGISTER, key_id, signer, partner_id, public_key, label)
    except asyncpg.CheckViolationError as exc:
        raise KeyRegistryError(f"key not registered: {exc}") from exc
    if inserted is None:
        row = await conn.fetchrow(_OWNER, key_id)
        assert row is not None
        if (row["signer"], row["partner_id"]) != (signer, partner_id):
            owner = row["partner_id"] or "the gateway"
            raise KeyRegistryError(f"key {key_id} is already registered for {owner}")
    return key_id


async def retire_key(conn: Conn, key_id: str, at: datetime | None = None) -> datetime:
    """Retire a key from `at` (default now): it still verifies events recorded before."""
    retired = await conn.fetchval(_RETIRE, key_id, at)
    if retired is None:
        raise KeyRegistryError(f"no key {key_id!r} is registered")
    assert isinstance(retired, datetime)
    return retired


async def list_keys(conn: Conn) -> list[KeyInfo]:
    return [
        KeyInfo(
            key_id=r["key_id"],
            signer=r["signer"],
            partner_id=r["partner_id"],
            public_key=b64url(bytes(r["public_key"])),
            label=r["label"],
            registered_at=r["registered_at"],
            retired_at=r["retired_at"],
        )
        for r in await conn.fetch(_LIST)
    ]


async def ensure_gateway_key(conn: Conn, path: Path) -> SigningKey:
    """The gateway's key from `path` (made there if missing), registered as a gateway key."""
    if not path.exists():
        SigningKey.generate().save(path)
        log.warning("no gateway key at %s: generated a new one", path)
    key = SigningKey.load(path)
    await register_key(conn, key.public_key, None, label=f"gateway key {path.name}")
    return key


_RESTORE_KEY = """
INSERT INTO signing_keys (key_id, signer, partner_id, public_key, label, registered_at, retired_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key_id) DO NOTHING
RETURNING key_id
"""


@dataclass(frozen=True)
class KeysRestored:
    added: int
    present: int


async def restore_keys(conn: Conn, documents: Sequence[Mapping[str, Any]]) -> KeysRestored:
    """Register keys as exported (e.g. from an archive) with their registration and
    retirement times; a key id already registered is left as it is."""
    added = 0
    for d in documents:
        retired = d.get("retired_at")
        try:
            inserted = await conn.fetchval(
                _RESTORE_KEY,
                d["key_id"],
                d["signer"],
                d.get("partner_id"),
                parse_public_key(str(d["public_key"])),
                "restored from an archive",
                datetime.fromisoformat(str(d["registered_at"])),
                datetime.fromisoformat(retired) if retired else None,
            )
        except (asyncpg.CheckViolationError, asyncpg.UniqueViolationError) as exc:
            raise KeyRegistryError(f"key {d['key_id']} could not be registered: {exc}") from exc
        added += inserted is not None
    return KeysRestored(added, len(documents) - added)
