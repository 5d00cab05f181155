"""The CLI's composition root: the settings, built once per run, and a command's connection.

`main.root` builds the settings before any command runs and keeps them on the
run's root click context, so a bad `REFNET_*` is one line naming the variable;
every command then takes them from `cli_settings()` and opens the database
through `with_connection`. Nothing is kept between runs (a test may run many
commands in one process, each with its own environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

import asyncpg
import click
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


def load_settings() -> Settings:
    """Settings from the environment; a bad variable is one line naming it, and exit 1."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "REFNET_" + "_".join(str(part) for part in first["loc"]).upper()
        fail(escape(f"{name}: {first['msg']}"))
    context = click.get_current_context(silent=True)
    if context is not None:
        context.find_root().obj = settings
    return settings


def cli_settings() -> Settings:
    """The settings of this run: the root callback's, or made now for a command run alone."""
    context = click.get_current_context(silent=True)
    built = context.find_root().obj if context is not None else None
    return built if isinstance(built, Settings) else load_settings()


@asynccontextmanager
async def migrated_connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the read model and the registry, brought up to date, closed after."""
    pool = await connect_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as proxy:
            # The pool's proxy forwards every Connection method; the stubs don't say so.
            conn = cast(asyncpg.Connection, proxy)
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            yield conn
    finally:
        await pool.close()


def with_connection(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` on a `migrated_connection`; a failure is one line and exit 1."""

    async def main() -> T:
        async with migrated_connection(settings) as conn:
            return await work(conn)

    # Messages may quote what the user typed: escaped, so `[` is not read as markup.
    try:
        return run(main())
    except RefNetError as exc:
        fail(escape(str(exc)))
    except _DATABASE_ERRORS as exc:
        fail(escape(f"database error: {exc}"))
