"""Applies the versioned SQL files of each schema in name order, each once.

Two schemas, two folders: `registry_migrations/` for what is not derived from
the log (tokens, signing keys, the gateway's ledger) and `migrations/` for the
read model, which a rebuild may recreate elsewhere. An advisory lock
serialises workers and API processes that start together; each schema keeps
its own ledger of applied versions.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

from refnet.projections.store.counts import recount_all
from refnet.projections.store.database import (
    READ_MODEL_SCHEMA,
    REGISTRY_SCHEMA,
    Conn,
    MigrationFailed,
)

_LOCK_KEY = 0x5EF_0E7  # an arbitrary constant shared by every RefNet process
_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
READ_MODEL_PACKAGE = "refnet.projections.store.migrations"
COUNTS_VERSION = "006_counts"
"""The migration that adds the kept counts: a read model it reaches holds rows to count."""
REGISTRY_PACKAGE = "refnet.projections.store.registry_migrations"


def migration_files(package: str = READ_MODEL_PACKAGE) -> list[tuple[str, str]]:
    """(version, sql) pairs of one folder, in the order they apply."""
    folder = resources.files(package)
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


async def migrate(
    conn: Conn, schema: str = READ_MODEL_SCHEMA, registry: str = REGISTRY_SCHEMA
) -> list[str]:
    """Bring the registry and the read model in `schema` up to date; return what applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        applied_now += await _migrate_one(conn, registry, REGISTRY_PACKAGE)
        applied_now += await _migrate_one(conn, schema, READ_MODEL_PACKAGE)
    return applied_now


async def _migrate_one(conn: Conn, schema: str, package: str) -> list[str]:
    # The schema name is ours (settings validated by pattern), never request input.
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
    await conn.execute(_CREATE_LEDGER)
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    applied: list[str] = []
    for version, sql in migration_files(package):
        if version in done:
            continue
        try:
            await conn.execute(sql)
        except asyncpg.PostgresError as exc:
            raise MigrationFailed(f"migration {schema}/{version} failed: {exc}") from exc
        if version == COUNTS_VERSION and package == READ_MODEL_PACKAGE:
            await recount_all(conn)
        await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        applied.append(f"{schema}/{version}")
    return applied
