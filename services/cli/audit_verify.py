"""`refnet audit verify`: proof that no event was altered or removed, and that the read
model is what the log says.

The checks live in `refnet.projections.audit.integrity`; this module reads the options,
shows progress and prints the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from refnet.events.errors import RefNetError
from refnet.events.settings import Settings
from refnet.projections.audit.findings import (
    GAP,
    GAP_NOTE,
    LEDGER_NOTE,
    RECORD_KINDS,
    SEQUENCE_NOTE,
    UNUSED,
    Finding,
    grouped,
)
from refnet.projections.audit.integrity import IntegrityReport, verify
from refnet.projections.worker.signatures import KeyRing
from refnet.services.cli.console import console, err_console, fail, run
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings
from refnet.services.registry.audit_keys import keys_from_file

INTACT, DISCREPANCIES, CANNOT_VERIFY = 0, 1, 2


def verify_command(
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            dir_okay=False,
            help="check signatures with the keys in this JSON file instead of the registry",
        ),
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", metavar="SECONDS", help="wait at most this long for catch-up")
    ] = 60.0,
    log_only: Annotated[
        bool,
        typer.Option(
            "--log-only",
            help="check signatures and sequences only, not the read model "
            "(with --keys, no PostgreSQL is needed)",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON document instead of the report")
    ] = False,
) -> None:
    """Prove the log and the read model intact.

    Reads the whole event log from offset 0 and checks every event's signature;
    checks each publisher's sequence numbers for gaps, repeats and reorderings
    (numbers the registry records as unused are listed apart, and are no gap);
    waits for the projection to catch up, then compares the read model, table by
    table, with a replay of the log up to the offsets the model has applied.

    Exit code: 0 intact; 1 discrepancies found (each one printed); 2 could not
    verify (broker or database unreachable, key file unreadable).
    """
    settings = cli_settings()
    try:
        ring = keys_from_file(keys) if keys is not None else None
        report = _run(settings, ring, wait, not log_only, show_progress=not as_json)
    except RefNetError as exc:
        fail(f"could not verify: {exc}", code=CANNOT_VERIFY)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, sort_keys=False))
    else:
        show(report)
    raise typer.Exit(INTACT if report.intact else DISCREPANCIES)


def _run(
    settings: Settings, keys: KeyRing | None, wait: float, with_model: bool, show_progress: bool
) -> IntegrityReport:
    if not show_progress:
        return run(verify(settings, keys, wait, with_model))
    with event_progress(err_console) as progress:
        task = progress.add_task("reading the log", total=None)
        return run(
            verify(
                settings,
                keys,
                wait,
                with_model,
                on_log_ends=lambda total: progress.update(task, total=total),
                on_progress=lambda n: progress.advance(task, n),
            )
        )


def show(report: IntegrityReport) -> None:
    """The report for people: what was read, every discrepancy by kind, the verdict."""
    parts = len(report.log_ends)
    console.print(
        f"log [bold]{escape(report.topic)}[/] ({parts} partitions): {report.records:,} records, "
        f"{report.verified:,} with a valid signature, from {len(report.publishers)} publisher(s)"
    )
    model = report.model
    if model is None:
        console.print("read model: not compared (--log-only)")
    else:
        state = "caught up" if model.caught_up else "[yellow]not caught up[/]"
        console.print(
            f"read model [bold]{escape(model.schema)}[/] ({state}): "
            f"{sum(model.offsets.values()):,} events applied, replayed {report.replayed:,}"
        )
        tables = ", ".join(f"{c.table} {c.live_rows:,}" for c in report.comparisons)
        console.print(f"rows compared: {tables}")
    groups = grouped(report.findings)
    _show_unused(report)
    for kind, findings in groups.items():
        console.print()
        console.print(f"[bold red]{escape(kind)}[/] ({len(findings)})")
        for finding in findings:
            console.print(f"  {_where(finding)}{escape(finding.message)}")
        if kind == GAP:
            console.print(f"  [dim]note: {escape(GAP_NOTE)}[/]")
            if LEDGER_NOTE in report.notes:
                console.print(f"  [dim]note: {escape(LEDGER_NOTE)}[/]")
        if kind.startswith("sequence") and any(k in groups for k in RECORD_KINDS):
            console.print(f"  [dim]note: {escape(SEQUENCE_NOTE)}[/]")
    console.print()
    unused = sum(f.detail["unused"] for f in report.accounted)
    noun = "number" if unused == 1 else "numbers"
    accounted = f" ({unused:,} unused {noun} accounted for)" if unused else ""
    if report.intact:
        console.print(
            "[bold green]INTACT[/]: every signature holds, no publisher's sequence has a gap, "
            f"repeat or reordering{accounted}"
            + (", and the read model equals the replay of the log" if model is not None else "")
        )
    else:
        console.print(
            f"[bold red]NOT INTACT[/]: {len(report.findings)} discrepancies ({_counts(groups)})"
        )


def _show_unused(report: IntegrityReport) -> None:
    """Absent numbers the registry explains: listed with their reason, never counted as wrong."""
    if not report.accounted:
        return
    console.print()
    console.print(
        f"[bold]{escape(UNUSED)}[/] ({len(report.accounted)}, accounted for, not missing)"
    )
    for finding in report.accounted:
        console.print(f"  {escape(finding.message)}")


def _where(finding: Finding) -> str:
    """Where a record finding sits; other findings name their place in the message."""
    if finding.kind not in RECORD_KINDS:
        return ""
    event = f" event {finding.event_id}" if finding.event_id else ""
    return f"partition {finding.partition} offset {finding.offset}{event}: "


def _counts(groups: dict[str, list[Finding]]) -> str:
    return ", ".join(f"{kind} {len(found)}" for kind, found in groups.items())


def register(app: typer.Typer) -> None:
    """Add `verify` to `refnet audit`."""
    app.command("verify")(verify_command)
