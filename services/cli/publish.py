"""`refnet publish FILE.jsonl`: validate a whole file, then publish it with a progress bar.

Contact events given in clear are sealed on the way with the registry's data keys,
under the configured key-encryption key (REFNET_KEK or REFNET_KEK_FILE): without
one, a file holding contact details is refused before anything is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer

from refnet.events.catalogue import EventModel
from refnet.events.contact import ClearContactRecorded
from refnet.events.publisher import Publisher
from refnet.events.settings import Settings
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.services.cli.console import console, err_console, fail, friendly
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings
from refnet.services.imports.jsonl import read_events
from refnet.services.registry.data_keys import PostgresDataKeyStore, check_kek, load_kek
from refnet.services.registry.local_keys import local_keys
from refnet.services.registry.unused_ledger import PostgresUnusedLedger

MAX_ERRORS_SHOWN = 50


@friendly
def publish_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines, one event a line")
    ],
) -> None:
    """Publish the events in FILE; nothing is published if any line is invalid."""
    events, errors = read_events(file)
    if errors:
        for error in errors[:MAX_ERRORS_SHOWN]:
            err_console.print(f"{file}: {error}", style="red", markup=False)
        if len(errors) > MAX_ERRORS_SHOWN:
            err_console.print(f"... and {len(errors) - MAX_ERRORS_SHOWN} more")
        fail(f"{len(errors)} problem(s) in {file}; nothing was published")
    publish_with_progress(cli_settings(), events, "publishing")
    console.print(f"[green]published {len(events)} events[/] from {file}")


def publish_with_progress(
    settings: Settings, events: Sequence[EventModel | ClearContactRecorded], label: str
) -> int:
    """Seal, sign with the local keys and publish `events`, showing a progress bar.

    Returns how many the broker confirmed. Every partner named must have a key
    in `REFNET_KEYS_DIR`, and contact details need the configured KEK; both are
    checked before anything is sent.
    """
    keys = local_keys(settings)
    for partner_id in sorted({e.partner_id for e in events}):
        keys.signer(partner_id)  # a missing key fails here, before anything is sent
    data_keys = None
    if any(isinstance(e, ClearContactRecorded) for e in events):
        data_keys = registry_data_keys(settings)
    with event_progress(console, transient=False) as progress:
        task = progress.add_task(label, total=len(events))
        # Numbers of a publish the broker refuses, or left open by a crash, go to the registry.
        publisher = Publisher(
            settings,
            signer_for=keys.signer,
            ledger=PostgresUnusedLedger(settings),
            data_keys=data_keys,
        )
        report = publisher.publish(events, on_delivered=lambda n: progress.advance(task, n))
    return report.delivered


def registry_data_keys(settings: Settings) -> PostgresDataKeyStore:
    """The registry's data keys under the configured KEK, checked against the registry's."""
    kek = load_kek(settings)

    async def check() -> None:
        pool = await connect_pool(settings, max_size=1)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, settings.read_model_schema, settings.registry_schema)
                await check_kek(conn, kek)
        finally:
            await pool.close()

    # A thread of its own: the caller (the demo, a test) may itself be inside an event loop.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, check()).result()
    # Settings, not a pool: the publisher seals each batch in an event loop of its own.
    return PostgresDataKeyStore(settings, kek)
