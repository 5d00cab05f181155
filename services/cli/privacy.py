"""`refnet privacy`: erasure, crypto-shredding, access requests and the PII scan.

`erase` and `shred-due` act as the network: they publish through a gateway
signing with the API's gateway key (`services/privacy/network.py`). `export`
reads the log, opens what the data keys still open, and is recorded as a read
of the person's record by the operating-system user, with the reason given.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from refnet.events.pii import find_pii
from refnet.events.settings import Settings
from refnet.projections.audit.reads import record_operator_read
from refnet.projections.worker.projector import Record
from refnet.projections.worker.signatures import KeyRing
from refnet.services.cli.console import console, err_console, fail, friendly, run
from refnet.services.cli.privacy_scan import scan_command
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings, migrated_connection
from refnet.services.privacy.erasure import ErasureOutcome, request_erasure
from refnet.services.privacy.export import (
    EXPORT_WHAT,
    access_report,
    participant_records,
    write_export,
)
from refnet.services.privacy.network import AsNetwork, network_gateway
from refnet.services.privacy.shred import ShredReport, shred_due
from refnet.services.registry.audit_keys import audit_keys
from refnet.services.registry.data_keys import PostgresDataKeyStore, check_kek, load_kek

privacy_app = typer.Typer(
    no_args_is_help=True, help="Erase a person, shred due keys, answer access requests, scan."
)

Participant = Annotated[str, typer.Argument(help="the participant's network pseudonym")]
EXPORT_REASON = "Auskunftsersuchen nach Art. 15 DSGVO"
T = TypeVar("T")


def read_reason(reason: str, option: str = "--reason") -> str:
    """A reader's or requester's reason: one line, and no personal data in it."""
    text = reason.strip()
    if not text or len(text) > 200 or "\n" in text:
        fail(f"{option}: give why in one line of 1 to 200 characters")
    found = find_pii(text)
    if found:
        fail(f"{option}: holds {found[0].kind} {found[0].masked!r}; say why, never who")
    return text


def operator() -> str:
    """The operating-system user a CLI read is recorded under."""
    return getpass.getuser()


def _today(text: str | None) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--today: {text!r} is not an ISO 8601 date such as 2035-01-01")


def _as_network(settings: Settings, act: Callable[[AsNetwork, dt.datetime], Awaitable[T]]) -> T:
    """Run `act` over a gateway signing as the network, at the moment the gateway is ready."""

    async def main() -> T:
        async with network_gateway(settings) as network:
            return await act(network, dt.datetime.now(dt.UTC))

    return run(main())


@privacy_app.command("erase")
@friendly
def erase_command(
    participant_id: Participant,
    reason: Annotated[
        str, typer.Option("--reason", help="why, e.g. 'Antrag nach Art. 17 DSGVO vom 2026-11-30'")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Record an erasure request; destroy the data key now unless a retention duty runs."""
    settings = cli_settings()
    why = read_reason(reason)
    outcome = _as_network(
        settings,
        lambda net, now: request_erasure(
            net.conn, net.gateway, net.keys, settings, participant_id, why, now
        ),
    )
    if as_json:
        console.print_json(json.dumps(erasure_body(outcome)))
        return
    said = "recorded" if outcome.recorded else "was already recorded"
    console.print(escape(f"erasure of {participant_id} {said} (event {outcome.event_id})"))
    console.print(escape(outcome.next_step()))


def erasure_body(outcome: ErasureOutcome) -> dict[str, object]:
    """What an erasure did, as the CLI's `--json` and the API's 202 say it."""
    retention = outcome.retention
    shredded = outcome.shredded
    return {
        "participant_id": outcome.participant_id,
        "event_id": outcome.event_id,
        "recorded": outcome.recorded,
        "programme": retention.programme,
        "restricted": outcome.restricted,
        "retention_until": retention.until.isoformat() if retention.until else None,
        "key_destroyed_from": str(retention.destroy_from) if outcome.restricted else None,
        "key_destroyed": None if shredded is None else shredded.key_id,
        "next": outcome.next_step(),
    }


@privacy_app.command("shred-due")
@friendly
def shred_due_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be destroyed; destroy nothing")
    ] = False,
    today: Annotated[
        str | None, typer.Option("--today", help="judge the duties on this date (default today)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Destroy every data key whose erasure was requested and whose retention has ended.

    Safe from cron: a key already destroyed is neither destroyed nor recorded again.
    """
    settings = cli_settings()
    day = _today(today)
    report = _as_network(
        settings,
        lambda net, now: shred_due(net.conn, net.gateway, net.keys, settings, day, now, dry_run),
    )
    if as_json:
        console.print_json(json.dumps(shred_body(report)))
        return
    _print_shred(report)


def shred_body(report: ShredReport) -> dict[str, object]:
    return {
        "today": report.today.isoformat(),
        "dry_run": report.dry_run,
        "destroyed": [
            {"participant_id": s.participant_id, "key_id": s.key_id, "reason": s.reason.value,
             "recorded": s.recorded}
            for s in report.shredded
        ],
        "restricted": [
            {"participant_id": r.participant_id, "programme": r.retention.programme,
             "retention_until": str(r.retention.until)}
            for r in report.restricted
        ],
    }  # fmt: skip


def _print_shred(report: ShredReport) -> None:
    verb = "would destroy" if report.dry_run else "destroyed"
    table = Table("participant", "key", "reason", "recorded now", title=f"keys {verb}")
    for s in report.shredded:
        table.add_row(
            s.participant_id, s.key_id or "–", s.reason.value, "yes" if s.recorded else ""
        )
    if report.shredded:
        console.print(table)
    for r in report.restricted:
        line = f"{r.participant_id}: restricted, retention of {r.retention.programme!r} runs "
        console.print(escape(line + f"until {r.retention.until}"))
    console.print(
        f"{verb} {len(report.shredded)} keys ({report.recorded} destructions recorded), "
        f"{len(report.restricted)} erasures wait for their retention to end "
        f"(judged on {report.today})"
    )


@privacy_app.command("export")
@friendly
def export_command(
    participant_id: Participant,
    output: Annotated[
        Path, typer.Option("--output", file_okay=False, help="directory for PID.json and PID.html")
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="why the record is read (recorded as a read)")
    ] = EXPORT_REASON,
) -> None:
    """Everything the network holds about one person (GDPR Art. 15), as JSON and German HTML."""
    settings = cli_settings()
    why = read_reason(reason)
    ring = run(audit_keys(settings, None))
    with event_progress(err_console) as progress:
        task = progress.add_task("reading the log", total=None)
        records = participant_records(
            settings, participant_id, on_progress=lambda n: progress.advance(task, n)
        )
    if not records:
        fail(f"participant_id: no event about {participant_id!r} in {settings.topic_events}")
    paths = run(_export(settings, participant_id, records, ring, why, output))
    for path in paths:
        console.print(escape(f"wrote {path}"))


async def _export(
    settings: Settings, pid: str, records: list[Record], ring: KeyRing, why: str, output: Path
) -> tuple[Path, Path]:
    kek = load_kek(settings)
    async with migrated_connection(settings) as conn:
        await check_kek(conn, kek)
        keys = PostgresDataKeyStore(conn, kek)
        now = dt.datetime.now(dt.UTC)
        report = await access_report(conn, settings, keys, ring, pid, records, now)
        # Recorded once the record was read and opened, before anything is written:
        # a read that then fails to be written is still a read.
        await record_operator_read(conn, operator(), pid, EXPORT_WHAT, why)
    return write_export(report, output)


privacy_app.command("scan")(scan_command)
