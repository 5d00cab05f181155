"""The CLI's composition root: the settings, built once per run, and a command's connection.

`main.root` builds the settings before any command runs, so a bad `REFNET_*`
is one line naming the variable; every command then takes them from
`cli_settings()` and opens the database through `with_connection`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import asyncpg
from pydantic import ValidationError
from rich.markup import escape

from refnet.events.errors import RefNetError
from refnet.events.settings import Settings
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.services.cli.console import fail, run

T = TypeVar("T")
# Driver failures not already turned into RefNet errors (e.g. the server going away).
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

_current: Settings | None = None


def load_settings() -> Settings:
    """Settings from the environment; a bad variable is one line naming it, and exit 1."""
    global _current
    try:
        _current = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "REFNET_" + "_".join(str(part) for part in first["loc"]).upper()
        fail(escape(f"{name}: {first['msg']}"))
    return _current


def cli_settings() -> Settings:
    """The settings of this run (built by the root callback, or now if a command runs alone)."""
    return _current if _current is not None else load_settings()


def with_connection(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` on one connection to the read model, brought up to date first."""

    async def main() -> T:
        pool = await connect_pool(settings, min_size=1, max_size=1)
        try:
            async with pool.acquire() as proxy:
                # The pool's proxy forwards every Connection method; the stubs don't say so.
                conn = cast(asyncpg.Connection, proxy)
                await migrate(conn, settings.read_model_schema, settings.registry_schema)
                return await work(conn)
        finally:
            await pool.close()

    # Messages may quote what the user typed: escaped, so `[` is not read as markup.
    try:
        return run(main())
    except RefNetError as exc:
        fail(escape(str(exc)))
    except _DATABASE_ERRORS as exc:
        fail(escape(f"database error: {exc}"))
