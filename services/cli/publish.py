"""`refnet publish FILE.jsonl`: validate a whole file, then publish it with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from refnet.events.catalogue import EventModel
from refnet.events.publisher import Publisher
from refnet.events.settings import Settings
from refnet.services.cli.console import console, err_console, fail, friendly
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings
from refnet.services.imports.jsonl import read_events
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


def publish_with_progress(settings: Settings, events: list[EventModel], label: str) -> int:
    """Sign `events` with the local keys and publish them, showing a progress bar.

    Returns how many the broker confirmed. Every partner named must have a key
    in `REFNET_KEYS_DIR`; the check runs before anything is sent.
    """
    keys = local_keys(settings)
    for partner_id in sorted({e.partner_id for e in events}):
        keys.signer(partner_id)  # a missing key fails here, before anything is sent
    with event_progress(console, transient=False) as progress:
        task = progress.add_task(label, total=len(events))
        # Numbers of a publish the broker refuses, or left open by a crash, go to the registry.
        publisher = Publisher(
            settings, signer_for=keys.signer, ledger=PostgresUnusedLedger(settings)
        )
        report = publisher.publish(events, on_delivered=lambda n: progress.advance(task, n))
    return report.delivered
