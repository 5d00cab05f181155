"""Connecting to the read model's PostgreSQL, and the store's error hierarchy.

    StoreError          base of read-model failures
    ├── StoreUnavailable  the database cannot be reached, or a transient error
    └── MigrationFailed   a migration file did not apply

Every connection of a pool has the read model's schema, then the registry's, as
its search_path, so SQL names tables without a schema and a rebuild can target
another read-model schema while tokens and keys stay where they are.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import urlparse

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from refnet.events.errors import RefNetError
from refnet.events.settings import Settings

READ_MODEL_SCHEMA = "readmodel"
REGISTRY_SCHEMA = "registry"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection, whether held directly or borrowed from a pool."""

# SQLSTATE classes worth retrying: connection exceptions, insufficient resources,
# operator intervention (e.g. admin shutdown), and serialization/deadlock aborts.
TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57", "40")


class StoreError(RefNetError):
    """A read-model failure."""


class StoreUnavailable(StoreError):
    """The database is unreachable or failed transiently; retrying may succeed."""


class MigrationFailed(StoreError):
    """A migration file failed to apply."""


def is_transient(exc: BaseException) -> bool:
    """True for database errors that a retry of the same work may overcome."""
    if isinstance(exc, (OSError, asyncpg.InterfaceError, TimeoutError)):
        return True
    # A statement prepared before a rebuild's schema switch whose result shape
    # differs afterwards: asyncpg has dropped its cache, so the same work succeeds
    # again (outside a transaction asyncpg retries by itself; inside one, we do).
    if isinstance(exc, asyncpg.InvalidCachedStatementError):
        return True
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state.startswith(TRANSIENT_SQLSTATE_PREFIXES)


async def create_pool(
    dsn: str,
    schema: str = READ_MODEL_SCHEMA,
    registry: str = REGISTRY_SCHEMA,
    min_size: int = 1,
    max_size: int = 5,
    relaxed_commit: bool = False,
) -> asyncpg.Pool:
    """A pool whose connections read and write `schema`, and the `registry` schema.

    `relaxed_commit` turns off waiting for the WAL flush at commit. The
    projection may: its offsets commit with its rows, so a database crash
    loses both together and the worker re-applies those events from the log.
    """
    settings = {
        "search_path": f"{schema},{registry},public",
        "application_name": "refnet",
        # Plans cached while the tables were empty stay slow once they fill up.
        "plan_cache_mode": "force_custom_plan",
    }
    if relaxed_commit:
        settings["synchronous_commit"] = "off"
    try:
        pool = await asyncpg.create_pool(
            dsn,
            ssl=_ssl(dsn),
            min_size=min_size,
            max_size=max_size,
            server_settings=settings,
            command_timeout=60,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
    assert pool is not None
    return pool


def _ssl(dsn: str) -> bool | None:
    # TLS to a socket on this machine only costs CPU; None keeps asyncpg's default.
    local = "sslmode" not in dsn and urlparse(dsn).hostname in _LOOPBACK
    return False if local else None


async def connect_session(
    settings: Settings, application_name: str
) -> asyncpg.Connection[asyncpg.Record]:
    """One connection named `application_name`, kept by a process to show the server it lives."""
    try:
        return await asyncpg.connect(
            settings.database_url,
            ssl=_ssl(settings.database_url),
            server_settings={"application_name": application_name},
            command_timeout=60,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"cannot reach PostgreSQL: {exc}") from exc


async def connect_pool(settings: Settings, **options: Any) -> asyncpg.Pool:
    """A pool on the configured database, read-model schema and registry."""
    return await create_pool(
        settings.database_url,
        settings.read_model_schema,
        registry=settings.registry_schema,
        **options,
    )
