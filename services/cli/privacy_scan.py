"""`refnet privacy scan`: the whole log searched for personal data in clear text.

The scan lives in `refnet.services.privacy.scan`; this module shows progress and prints
the findings, each value masked, and the scan's rate.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from refnet.events.errors import RefNetError
from refnet.events.settings import Settings
from refnet.services.cli.console import console, err_console, fail
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings
from refnet.services.privacy.scan import ScanReport, scan_log

# As `refnet audit verify`: 1 is a finding, so "could not look" needs a code of its own.
CLEAN, FOUND, CANNOT_SCAN = 0, 1, 2


def scan_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON document instead of the report")
    ] = False,
) -> None:
    """Search the whole event log for personal data in clear text.

    Reads every record from offset 0 and reports each e-mail address, phone number,
    IBAN, birth date or street address in its clear-text parts (key included), and any
    contact detail outside a ciphertext, with partition, offset, event id and field.
    Found values are shown masked.

    Exit code: 0 nothing found; 1 findings (each one printed); 2 could not scan
    (broker unreachable, topic missing).
    """
    settings = cli_settings()
    try:
        report = _run(settings, show_progress=not as_json)
    except RefNetError as exc:
        fail(f"could not scan: {exc}", code=CANNOT_SCAN)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        show(report)
    raise typer.Exit(CLEAN if report.clean else FOUND)


def _run(settings: Settings, show_progress: bool) -> ScanReport:
    if not show_progress:
        return scan_log(settings)
    with event_progress(err_console) as progress:
        task = progress.add_task("scanning the log", total=None)
        return scan_log(
            settings,
            on_log_ends=lambda total: progress.update(task, total=total),
            on_progress=lambda n: progress.advance(task, n),
        )


def show(report: ScanReport) -> None:
    """The report for people: what was read, each finding, the verdict and the rate."""
    parts = len(report.log_ends)
    undecodable = (
        f", {report.undecodable:,} not JSON (scanned as text)" if report.undecodable else ""
    )
    console.print(
        f"log [bold]{escape(report.topic)}[/] ({parts} partitions): "
        f"{report.records:,} records{undecodable}"
    )
    for f in report.findings:
        event = f" event {f.event_id}" if f.event_id else ""
        kind = f" ({escape(f.event_type)})" if f.event_type else ""
        console.print(
            f"  partition {f.partition} offset {f.offset}{event}{kind}: "
            f"[bold]{escape(f.field)}[/]: {escape(f.kind)} {escape(f.masked)}"
        )
    if report.clean:
        console.print("[bold green]CLEAN[/]: no personal data in clear text on the log")
    else:
        console.print(
            f"[bold red]FOUND[/]: {len(report.findings)} findings "
            f"in {report.records_with_findings} records"
        )
    console.print(
        f"scanned {report.records:,} events in {report.seconds:.2f}s: {report.rate:,.0f} events/s"
    )
