"""Participants' data keys in the registry's PostgreSQL, wrapped by the key-encryption key.

`PostgresDataKeyStore` implements `refnet.events.sealing.DataKeyStore` over the
`data_keys` table (migration 006). A data key is stored only wrapped
(`wrap_key`: AES-256-GCM under the KEK, bound to its participant and key id);
its clear secret lives only in the memory of the process that seals or opens.
Nothing is cached: a key destroyed by one process is gone for every other at
once, which an erasure needs more than the API needs the sub-millisecond read.

Destroying a key overwrites its wrapped bytes with NULL and keeps the row
(key_id, destroyed_at, destroyed_reason): the participant never gets a new key
afterwards (`key_for` raises KeyGone), and the destruction stays provable.
Old row versions stay in PostgreSQL's heap until VACUUM, and in backups of the
registry: those hold only wrapped bytes, useless without the KEK.

The key-encryption key (KEK) comes from configuration (`load_kek`): `REFNET_KEK`
(base64url of 32 bytes) or the file at `REFNET_KEK_FILE`. There is no built-in
default anywhere: where neither is configured, `load_kek` raises KekMissing and
the API refuses to start. Only `refnet stack up` makes a KEK file, for the local
stack; a production KEK comes from the operator's secret store. The registry
remembers the `kek_id` of the KEK it was first used with, so a process started
with another KEK stops at once (`check_kek`) instead of making keys no other
process can unwrap.

    RefNetError          (refnet.events.errors)
    └── KekError         the key-encryption key cannot be used
        ├── KekMissing   none configured
        ├── KekMalformed not base64url of exactly 32 bytes
        └── KekMismatch  the registry's data keys were wrapped under another KEK
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeAlias

import asyncpg

from refnet.events.errors import RefNetError
from refnet.events.sealing import (
    KEY_BYTES,
    DataKey,
    KeyGone,
    kek_id,
    new_data_key,
    unwrap_key,
    wrap_key,
)
from refnet.events.settings import Settings
from refnet.projections.store.database import Conn, connect_pool

_MAKE_ONE = (
    'make one with `refnet stack up` (local stack) or `python -c "import base64, secrets; '
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > FILE; '
    "chmod 600 FILE`, and keep a copy in your secret store: without it no contact "
    "detail can ever be read again"
)

_READ = """
SELECT key_id, wrapped, kek_id, destroyed_at FROM data_keys WHERE participant_id = $1
"""
# Two processes making the first key of one participant: one insert wins, both read it.
_INSERT = """
INSERT INTO data_keys (participant_id, key_id, wrapped, kek_id) VALUES ($1, $2, $3, $4)
ON CONFLICT (participant_id) DO NOTHING
"""
# A participant without a key gets a tombstone, so no key is ever made for them later.
_TOMBSTONE = """
INSERT INTO data_keys (participant_id, key_id, wrapped, kek_id, destroyed_at, destroyed_reason)
VALUES ($1, $2, NULL, $3, now(), $4)
ON CONFLICT (participant_id) DO NOTHING
"""
_DESTROY = """
UPDATE data_keys SET wrapped = NULL, destroyed_at = now(), destroyed_reason = $2
WHERE participant_id = $1 AND destroyed_at IS NULL
RETURNING key_id
"""
_REMEMBER_KEK = """
INSERT INTO key_encryption_key (kek_id) VALUES ($1) ON CONFLICT (singleton) DO NOTHING
"""
_KNOWN_KEK = "SELECT kek_id FROM key_encryption_key"


class KekError(RefNetError):
    """The key-encryption key cannot be used."""


class KekMissing(KekError):
    """No key-encryption key is configured."""


class KekMalformed(KekError):
    """The configured key-encryption key is not base64url of exactly 32 bytes."""


class KekMismatch(KekError):
    """The registry's data keys were wrapped under another key-encryption key."""


def parse_kek(text: str, source: str) -> bytes:
    """The 32 bytes of a base64url KEK (padding optional); KekMalformed naming `source`."""
    value = text.strip()
    try:
        kek = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if base64.urlsafe_b64encode(kek).rstrip(b"=").decode() != value.rstrip("="):
            raise ValueError("characters outside base64url")
    except (binascii.Error, ValueError) as exc:
        raise KekMalformed(f"the key-encryption key in {source} is not base64url: {exc}") from exc
    if len(kek) != KEY_BYTES:
        raise KekMalformed(
            f"the key-encryption key in {source} is {len(kek)} bytes; it must be exactly "
            f"{KEY_BYTES} (base64url of 32 random bytes)"
        )
    return kek


def load_kek(settings: Settings) -> bytes:
    """The configured KEK: `settings.kek` if set, else the file `settings.kek_file`.

    There is no default: with neither, KekMissing says how to make one.
    """
    if settings.kek is not None:
        return parse_kek(settings.kek, "REFNET_KEK")
    path = settings.kek_file.expanduser()
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KekMissing(
            f"no key-encryption key: REFNET_KEK is not set and there is no file {path} "
            f"(REFNET_KEK_FILE); {_MAKE_ONE}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KekMalformed(f"the key-encryption key file {path} cannot be read: {exc}") from exc
    return parse_kek(text, str(path))


def write_kek_file(path: Path) -> bool:
    """Make a new random KEK at `path` (mode 0600) unless one is there; True if made now."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).rstrip(b"=").decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
    return True


async def check_kek(conn: Conn, kek: bytes) -> None:
    """Remember `kek` as the registry's KEK on first use; KekMismatch if it had another."""
    await conn.execute(_REMEMBER_KEK, kek_id(kek))
    known = await conn.fetchval(_KNOWN_KEK)
    if known != kek_id(kek):
        raise KekMismatch(
            f"the registry's data keys are wrapped under key-encryption key {known}, but the "
            f"configured one is {kek_id(kek)}: configure the KEK this registry was set up "
            "with (REFNET_KEK or REFNET_KEK_FILE); a new KEK would leave every stored "
            "contact detail unreadable"
        )


Database: TypeAlias = "asyncpg.Pool | Conn | Settings"
"""A pool, one connection (used by one call at a time), or settings: a short connection
per call, for synchronous callers that run each batch in an event loop of its own."""


class PostgresDataKeyStore:
    """`DataKeyStore` over the registry's `data_keys` table; keys wrapped under `kek`."""

    def __init__(self, database: Database, kek: bytes) -> None:
        self._database = database
        self._kek = kek
        self._kek_id = kek_id(kek)
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"PostgresDataKeyStore(kek_id={self._kek_id!r})"

    def on(self, conn: Conn) -> PostgresDataKeyStore:
        """The same store on `conn`: for a caller that already holds a pooled connection,
        which taking a second one for the keys could make wait for ever under load."""
        return PostgresDataKeyStore(conn, self._kek)

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        database = self._database
        if isinstance(database, asyncpg.Pool):
            async with database.acquire() as conn:
                yield conn
        elif isinstance(database, Settings):
            pool = await connect_pool(database, min_size=1, max_size=1)
            try:
                async with pool.acquire() as conn:
                    yield conn
            finally:
                await pool.close()
        else:
            # One connection runs one query at a time; concurrent callers take turns.
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                yield database

    async def key_for(self, participant_id: str) -> DataKey:
        """The participant's key, made on first use; KeyGone once it was destroyed."""
        async with self._conn() as conn:
            row = await conn.fetchrow(_READ, participant_id)
            if row is None:
                key = new_data_key()
                wrapped = wrap_key(self._kek, participant_id, key)
                await conn.execute(_INSERT, participant_id, key.key_id, wrapped, self._kek_id)
                row = await conn.fetchrow(_READ, participant_id)
                assert row is not None  # inserted now, or by whoever won the race
        found = self._unwrapped(participant_id, row)
        if found is None:
            raise KeyGone(
                f"the data key of participant {participant_id} was destroyed "
                f"({row['destroyed_at']:%Y-%m-%d}): nothing can be sealed or opened for them"
            )
        return found

    async def existing(self, participant_id: str) -> DataKey | None:
        """The participant's key if it exists and was not destroyed; never makes one."""
        async with self._conn() as conn:
            row = await conn.fetchrow(_READ, participant_id)
        return None if row is None else self._unwrapped(participant_id, row)

    async def destroy(self, participant_id: str, reason: str = "erasure") -> str | None:
        """Destroy the participant's key for good: the id of the key destroyed now.

        None when there was no live key (never made, or destroyed before), so a
        second call changes nothing; a participant without a key gets a tombstone,
        and no key is ever made for them afterwards.
        """
        async with self._conn() as conn:
            destroyed = await conn.fetchval(_DESTROY, participant_id, reason)
            if destroyed is None:
                tombstone = new_data_key().key_id
                await conn.execute(_TOMBSTONE, participant_id, tombstone, self._kek_id, reason)
        return None if destroyed is None else str(destroyed)

    def _unwrapped(self, participant_id: str, row: asyncpg.Record) -> DataKey | None:
        if row["wrapped"] is None:
            return None
        if row["kek_id"] != self._kek_id:
            raise KekMismatch(
                f"the data key of participant {participant_id} is wrapped under "
                f"key-encryption key {row['kek_id']}, not the configured {self._kek_id}"
            )
        return unwrap_key(self._kek, participant_id, row["key_id"], bytes(row["wrapped"]))
