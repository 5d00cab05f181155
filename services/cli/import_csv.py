"""`refnet import --partner ID FILE.csv`: a partner's spreadsheet, validated, then published."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.markup import escape
from rich.table import Table

from refnet.events.fields import Slug
from refnet.events.settings import Settings
from refnet.services.cli.console import console, err_console, fail, friendly
from refnet.services.cli.publish import MAX_ERRORS_SHOWN, publish_with_progress
from refnet.services.cli.root import cli_settings
from refnet.services.imports.csv_import import CsvImport, read_csv

_PARTNER_ID: TypeAdapter[str] = TypeAdapter(Slug)


@dataclass(frozen=True)
class ImportReport:
    """What an import did: valid events, how many the broker confirmed, lines left out."""

    ok: bool
    valid: int
    published: int
    skipped_lines: tuple[int, ...] = ()


@friendly
def import_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV, comma or semicolon, UTF-8")
    ],
    partner: Annotated[
        str, typer.Option("--partner", help="the partner whose events the file holds")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and count; publish nothing")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="publish the valid lines, report the others")
    ] = False,
) -> None:
    """Import a spreadsheet of events; nothing is published if any line is invalid.

    The column layout (German or English headers) is in the README, "Spreadsheet import".
    """
    report = import_file(cli_settings(), partner, file, dry_run=dry_run, skip_invalid=skip_invalid)
    if not report.ok:
        raise typer.Exit(1)


def import_file(
    settings: Settings,
    partner: str,
    path: Path,
    dry_run: bool = False,
    skip_invalid: bool = False,
) -> ImportReport:
    """Validate the whole file, list its problems, then publish (unless a dry run)."""
    try:
        _PARTNER_ID.validate_python(partner)
    except ValidationError:
        fail(f"--partner {partner!r} is not a partner id (lower-case letters, digits, dashes)")
    result = read_csv(path, partner)
    _print_problems(path, result)
    # A problem of the file itself (encoding, header) spoils every line: never skipped.
    if result.file_errors or (result.line_errors and not skip_invalid):
        lines = len(result.invalid_lines)
        message = f"{len(result.errors)} problem(s) in {path}"
        message += f" on {lines} line(s)" if lines and not result.file_errors else ""
        err_console.print(f"[bold red]error:[/] {escape(message)}; nothing was published")
        if dry_run:
            console.print(_count_table(result, "valid lines (dry run)"))
        return ImportReport(ok=False, valid=len(result.rows), published=0)
    skipped = tuple(result.invalid_lines)
    if skipped:
        err_console.print(
            f"[yellow]skipped {len(skipped)} invalid line(s):[/] {_line_list(skipped)}"
        )
    events = result.events
    if dry_run:
        console.print(_count_table(result, "would publish (dry run)"))
        console.print(f"dry run: {len(events)} valid event(s) in {path}; nothing was published")
        return ImportReport(ok=True, valid=len(events), published=0, skipped_lines=skipped)
    if not events:
        console.print(f"no events in {path}; nothing to publish")
        return ImportReport(ok=True, valid=0, published=0, skipped_lines=skipped)
    delivered = publish_with_progress(settings, events, "importing")
    console.print(_count_table(result, "published"))
    console.print(f"[green]published {delivered} events[/] from {escape(str(path))}")
    return ImportReport(ok=True, valid=len(events), published=delivered, skipped_lines=skipped)


def _print_problems(path: Path, result: CsvImport) -> None:
    errors = result.errors
    for error in errors[:MAX_ERRORS_SHOWN]:
        err_console.print(f"{path}: {error}", style="red", markup=False)
    if len(errors) > MAX_ERRORS_SHOWN:
        err_console.print(f"... and {len(errors) - MAX_ERRORS_SHOWN} more")


def _count_table(result: CsvImport, title: str) -> Table:
    table = Table(title=title)
    table.add_column("event type")
    table.add_column("events", justify="right")
    counts = result.counts()
    for event_type, count in sorted(counts.items()):
        table.add_row(event_type, str(count))
    table.add_row("total", str(sum(counts.values())), style="bold")
    return table


def _line_list(lines: tuple[int, ...], shown: int = MAX_ERRORS_SHOWN) -> str:
    listed = ", ".join(str(n) for n in lines[:shown])
    return listed + (f", ... ({len(lines) - shown} more)" if len(lines) > shown else "")
