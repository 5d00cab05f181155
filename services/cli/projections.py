"""`refnet projections ...`: run the worker, reset the read model, wait for catch-up."""

from __future__ import annotations

import logging

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from refnet.events.settings import Settings
from refnet.projections.catchup import wait_caught_up
from refnet.projections.database import connect_pool
from refnet.projections.migrate import migrate
from refnet.projections.store import PROJECTION
from refnet.services.cli.console import console, friendly, run

projections_app = typer.Typer(help="Run and manage the projection worker.", no_args_is_help=True)

_EMPTY_TABLES = """
TRUNCATE participant_state, participants, referrals, trainings, partner_links, rejections,
  dead_letters
"""
_REWIND = """
UPDATE projection_offsets SET next_offset = 0, updated_at = now() WHERE projection = $1
"""


@projections_app.command("run")
@friendly
def run_command(
    loglevel: str = typer.Option("info", help="faust/worker log level"),
) -> None:
    """Run the projection worker (joins the consumer group; stop with Ctrl-C)."""
    from refnet.projections.app import run_worker

    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run_worker(Settings(), loglevel=loglevel)


@projections_app.command("reset")
@friendly
def reset_command(
    yes: bool = typer.Option(False, "--yes", help="confirm: empties the read model"),
) -> None:
    """Empty the read model and its offsets, so a worker rebuilds it from offset 0.

    Stop the workers first; the API shows empty counts until they have caught up.
    """
    if not yes:
        typer.confirm("Empty the read model and rebuild it from the log?", abort=True)
    run(_reset(Settings()))
    console.print("read model emptied; start `refnet projections run` to rebuild it")


async def _reset(settings: Settings) -> None:
    pool = await connect_pool(settings)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            async with conn.transaction():
                await conn.execute(_EMPTY_TABLES)
                await conn.execute(_REWIND, PROJECTION)
    finally:
        await pool.close()


@projections_app.command("wait")
@friendly
def wait_command(timeout: float = typer.Option(300.0, help="seconds to wait at most")) -> None:
    """Wait until the read model has applied every event in the log."""
    run(wait_until_caught_up(Settings(), timeout))
    console.print("[green]caught up[/]")


async def wait_until_caught_up(settings: Settings, timeout: float) -> None:
    """Wait with a progress bar; shared by `refnet demo`."""
    pool = await connect_pool(settings)
    columns = (TextColumn("projecting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("projecting", total=None)

            def show(done: int, end: int) -> None:
                progress.update(task, completed=done, total=end)

            async with pool.acquire() as conn:
                await migrate(conn, settings.read_model_schema, settings.registry_schema)
                await wait_caught_up(conn, settings, timeout=timeout, on_progress=show)
    finally:
        await pool.close()
