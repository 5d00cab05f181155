"""Applies the versioned SQL files in `migrations/` in name order, each once.

An advisory lock serialises workers and API processes that start together;
each file runs in its own transaction with its version recorded beside it.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

from refnet.projections.database import READ_MODEL_SCHEMA, Conn, MigrationFailed

_LOCK_KEY = 0x5EF_0E7  # an arbitrary constant shared by every RefNet process
_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) pairs in the order they apply."""
    folder = resources.files("refnet.projections.migrations")
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


async def migrate(conn: Conn, schema: str = READ_MODEL_SCHEMA) -> list[str]:
    """Bring `schema` up to date; return the versions applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        # The schema name is ours (a constant or a rebuild's generated name), never input.
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
        await conn.execute(_CREATE_LEDGER)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            try:
                await conn.execute(sql)
            except asyncpg.PostgresError as exc:
                raise MigrationFailed(f"migration {version} failed: {exc}") from exc
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
    return applied_now
