"""`refnet audit export | verify-archive | restore`: the log kept as files, and back.

Thin commands over `refnet.services.archive`, with progress bars; what goes
wrong is one red line (and, for a damaged archive, every problem found).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.markup import escape

from refnet.projections.audit.findings import Finding
from refnet.services.archive.export import export_archive, parse_until, plan_export
from refnet.services.archive.format import ArchiveError, Manifest
from refnet.services.archive.restore import check_target_empty, restore_archive
from refnet.services.archive.verify import (
    Verification,
    key_list,
    read_manifest,
    verify_archive,
)
from refnet.services.archive.writer import check_folder
from refnet.services.cli.console import console, err_console, fail, friendly, run
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings
from refnet.services.registry.audit_keys import registered_documents

NOTES_SHOWN = 20

ArchiveDir = Annotated[Path, typer.Argument(metavar="DIR", help="the archive's directory")]


@contextmanager
def _progress(label: str, total: int | None, show: bool = True) -> Iterator[Callable[[int], None]]:
    with event_progress(console, transient=False, disable=not show) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _rate(records: int, seconds: float) -> str:
    return f"{records / seconds:,.0f} events/s" if seconds > 0 else "-"


@friendly
def export_command(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="a new or empty directory for the archive")
    ],
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="T",
            help="only records stamped at or before T (ISO 8601; UTC without an offset; "
            "a date means its end)",
        ),
    ] = None,
) -> None:
    """Write the event log, the registered keys and a manifest as an archive in DIR."""
    settings = cli_settings()
    check_folder(folder)
    cutoff = parse_until(until) if until is not None else None
    plan = plan_export(settings, cutoff)
    try:
        keys = run(registered_documents(settings))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        fail(f"reading the registered keys failed: {exc}")
    try:
        with _progress("exporting", plan.records) as advance:
            manifest = export_archive(settings, folder, plan, keys, advance)
    except OSError as exc:
        fail(f"writing {folder} failed: {exc}; nothing was kept")
    size = sum(f.compressed_bytes for f in manifest.files)
    console.print(
        f"[green]archived[/] {manifest.records:,} records of {escape(manifest.topic)} "
        f"({manifest.partitions} partitions, {size / 1e6:,.1f} MB) and {manifest.keys_count} "
        f"keys in {escape(str(folder))}" + (f", until {manifest.until}" if manifest.until else "")
    )
    console.print(f"chain SHA-256 {manifest.to_json()['chain_sha256']}", markup=False)


def _total(folder: Path) -> int | None:
    try:
        return read_manifest(folder)[0].records
    except ArchiveError:
        return None  # verify_archive reports why


def _print_findings(title: str, findings: list[Finding], limit: int | None = None) -> None:
    shown = findings if limit is None else findings[:limit]
    console.print(title)
    for finding in shown:
        console.print(f"  {finding}", markup=False)
    if len(shown) < len(findings):
        console.print(f"  ... and {len(findings) - len(shown)} more (see --json)")


def _verdict(result: Verification, manifest: Manifest) -> str:
    scope = f"{manifest.records:,} records of {escape(manifest.topic)}"
    if manifest.until:
        scope += f" up to {manifest.until}"
    if result.intact:
        return (
            f"[bold green]INTACT[/] {escape(str(result.folder))}: {scope} in "
            f"{len(manifest.files)} files; {result.events:,} events, every signature verified "
            f"with the archive's {manifest.keys_count} keys"
        )
    what = []
    if result.problems:
        what.append(f"{len(result.problems)} problem(s) in its files")
    if result.bad_signatures:
        what.append(f"{len(result.bad_signatures)} event(s) whose signature fails")
    return f"[bold red]NOT INTACT[/] {escape(str(result.folder))}: {scope}; {', '.join(what)}"


def _report(result: Verification) -> None:
    if result.manifest is None:
        console.print(f"[bold red]NOT AN ARCHIVE[/] {escape(str(result.folder))}")
    else:
        console.print(_verdict(result, result.manifest))
    if result.problems:
        _print_findings("problems:", result.problems)
    if result.bad_signatures:
        _print_findings("signatures that fail:", result.bad_signatures)
    if result.not_events:
        _print_findings(
            f"note: {len(result.not_events)} record(s) are no event; the log held them so "
            "(the projections dead-letter them):",
            result.not_events,
            NOTES_SHOWN,
        )
    if result.manifest is not None:
        console.print(f"chain SHA-256 {result.to_json()['chain_sha256']}", markup=False)


@friendly
def verify_archive_command(
    folder: ArchiveDir,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Check an archive: hashes, chain, every line and offset, every event's signature.

    Exit 0 when intact, 1 on any problem.
    """
    with _progress("verifying", _total(folder), show=not as_json) as advance:
        result = verify_archive(folder, on_progress=advance)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _report(result)
    if not result.intact:
        raise typer.Exit(1)


@friendly
def restore_command(folder: ArchiveDir) -> None:
    """Load an archive into an empty event log (REFNET_TOPIC_EVENTS) and register its keys."""
    settings = cli_settings()
    total = _total(folder)
    if total is not None:  # refuse a full topic before reading the whole archive
        check_target_empty(settings, read_manifest(folder)[0].partitions)
    with _progress("verifying", total) as advance:
        checked = verify_archive(folder, check_signatures=False, on_progress=advance)
    if not checked.files_intact or checked.manifest is None:
        _report(checked)
        fail(f"{folder} is not an intact archive; nothing was restored")
    manifest = checked.manifest
    keys = key_list((folder / manifest.keys_file).read_bytes())
    try:
        with _progress("restoring", manifest.records) as advance:
            restored = restore_archive(settings, folder, manifest, keys, advance)
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        fail(f"registering the archive's keys failed: {exc}; nothing was restored")
    console.print(
        f"[green]restored[/] {restored.records:,} records into {escape(restored.topic)} "
        f"({restored.partitions} partitions, offsets and timestamps as archived) in "
        f"{restored.seconds:,.1f}s ({_rate(restored.records, restored.seconds)}); keys: "
        f"{restored.keys.added} registered, {restored.keys.present} already present"
    )
    err_console.print(
        "start `refnet projections run` to rebuild the read model from the restored log",
        style="dim",
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to `refnet audit`."""
    app.command("export")(export_command)
    app.command("verify-archive")(verify_archive_command)
    app.command("restore")(restore_command)
