"""`refnet audit replay`, `history` and `keys`: outcomes, the ESF+ report and timelines
from the log alone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from refnet.events.settings import Settings
from refnet.projections.audit.asof import OutcomesAsOf, TimeBasis
from refnet.projections.audit.log_replay import LogReplay
from refnet.projections.audit.replay import Replay
from refnet.projections.audit.timeline import Timeline, timeline
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.reports.esf import (
    GENDER_KEYS,
    OUTPUT_KEYS,
    OUTPUT_LABELS,
    REFUSED_KEYS,
    EsfReport,
    GenderSplit,
)
from refnet.projections.reports.esf_asof import EsfAsOf
from refnet.projections.store.views import Period
from refnet.projections.worker.log_reader import log_ends, read_log
from refnet.projections.worker.signatures import KeyRing
from refnet.services.cli.console import console, err_console, fail, friendly, run
from refnet.services.cli.demo import summary_table
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings
from refnet.services.registry.audit_keys import audit_keys, registered_documents

KeysFile = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        dir_okay=False,
        help="JSON list of public keys (an archive's keys.json); default: the registry",
    ),
]


def register(app: typer.Typer) -> None:
    """Add replay, history and keys to `refnet audit`."""
    app.command("replay")(replay_command)
    app.command("history")(history_command)
    app.command("keys")(keys_command)


def parse_instant(text: str, name: str) -> datetime:
    """An ISO 8601 date (its midnight) or date-time; UTC when it names no offset."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{name}: {text!r} is not an ISO 8601 date or date-time (e.g. 2025-07-01)")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def replay_with_progress(
    settings: Settings, keys: KeyRing, tallies: Sequence[OutcomesAsOf | EsfAsOf]
) -> LogReplay:
    """Fold the whole log part by part into `tallies`, with a progress bar on stderr
    (events/s and time left); no part's states outlive it."""
    ends = log_ends(settings)
    with event_progress(err_console) as progress:
        task = progress.add_task("replaying the log", total=sum(ends.values()))
        replay = LogReplay(settings, keys, ends, on_progress=lambda n: progress.advance(task, n))
        for part in replay.parts():
            for tally in tallies:
                tally.add(part.states.values())
    return replay


@friendly
def replay_command(
    as_of: Annotated[
        list[str] | None,
        typer.Option(
            "--as-of",
            help="the instant: ISO 8601 date (its midnight, UTC) or date-time; default now. "
            "Repeat it for several instants from one pass over the log",
        ),
    ] = None,
    time: Annotated[
        TimeBasis,
        typer.Option(
            "--time",
            help="recorded: what the network knew at T; occurred: what had happened by T, "
            "as known today",
        ),
    ] = TimeBasis.RECORDED,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    keys_file: KeysFile = None,
    esf: Annotated[
        bool, typer.Option("--esf", help="the ESF+ report instead of the network outcomes")
    ] = False,
    from_: Annotated[
        str | None, typer.Option("--from", help="with --esf: start of the period, inclusive")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="with --esf: end of the period, exclusive")
    ] = None,
) -> None:
    """Network outcomes (or with --esf the ESF+ report) as of an instant, replayed from the
    event log (no read model used)."""
    settings = cli_settings()
    instants = [parse_instant(t, "--as-of") for t in as_of] if as_of else [datetime.now(UTC)]
    if not esf and (from_ is not None or to is not None):
        fail("--from and --to choose the period of the ESF+ report: add --esf")
    period = _period(from_, to) if esf else None
    keys = run(audit_keys(settings, keys_file))
    if period is not None:
        esf_tallies = [EsfAsOf(instant, period, time) for instant in instants]
        replay = replay_with_progress(settings, keys, esf_tallies)
        reports = [t.report(settings.topic_events, replay.ends) for t in esf_tallies]
        _print_esf(reports, as_json, time)
        if not as_json:
            console.print(_replay_line(replay))
        return
    overdue = settings.referral_overdue_days
    tallies = [OutcomesAsOf(instant, time, overdue) for instant in instants]
    replay = replay_with_progress(settings, keys, tallies)
    answers = [(t.as_of, t.outcomes()) for t in tallies]
    if as_json:
        bodies = [
            {
                "as_of": instant.isoformat(),
                "time": time.value,
                "log": _log_summary(settings, replay),
                "outcomes": outcomes.model_dump(mode="json", exclude={"period"}),
            }
            for instant, outcomes in answers
        ]
        console.print_json(json.dumps(bodies[0] if len(bodies) == 1 else bodies))
        return
    for instant, outcomes in answers:
        title = f"network outcomes as of {instant:%Y-%m-%d %H:%M:%S} UTC ({time.value} time)"
        console.print(summary_table(outcomes, title))
        console.print(_breakdown(outcomes.by_site, "site"))
        console.print(_breakdown(outcomes.by_partner, "partner_id"))
    console.print(_replay_line(replay))


def _period(from_: str | None, to: str | None) -> Period:
    start = parse_instant(from_, "--from") if from_ is not None else None
    end = parse_instant(to, "--to") if to is not None else None
    if start is not None and end is not None and start >= end:
        fail(f"--to: {to!r} must be later than --from {from_!r}")
    return Period.model_validate({"from": start, "to": end})


def _print_esf(reports: list[EsfReport], as_json: bool, time: TimeBasis) -> None:
    if as_json:
        bodies = [r.model_dump(mode="json", by_alias=True) for r in reports]
        console.print_json(json.dumps(bodies[0] if len(bodies) == 1 else bodies))
        return
    for report in reports:
        span = report.period
        bounds = f"{span.from_ or '...'} to {span.to or '...'}"
        title = (
            f"ESF+ report {bounds}, as of {span.as_of:%Y-%m-%d %H:%M:%S} UTC ({time.value} time)"
        )
        labels = {k: f"{k} {v}" if k.startswith("EECO") else v for k, v in OUTPUT_LABELS.items()}
        sections: list[tuple[str, dict[str, GenderSplit]]] = [
            ("output", {labels[k]: getattr(report.output, k) for k in OUTPUT_KEYS}),
            ("results on leaving", dict(report.results_on_leaving)),
            ("results six months after leaving", dict(report.results_six_months)),
        ]
        for name, boxes in sections:
            table = Table("indicator", "total", *GENDER_KEYS, title=f"{title}: {name}")
            for label, box in boxes.items():
                table.add_row(label, *(str(getattr(box, k)) for k in ("total", *GENDER_KEYS)))
            console.print(table)
        refused = ", ".join(f"{k} {getattr(report.refused, k)}" for k in REFUSED_KEYS)
        console.print(f"refused: {refused}")


def _log_summary(settings: Settings, replay: LogReplay) -> dict[str, Any]:
    return {
        "topic": settings.topic_events,
        "records": replay.records,
        "ends": {str(p): end for p, end in sorted(replay.ends.items())},
        "dead_letters": replay.dead_letter_count,
        "rejected": replay.rejection_count,
    }


def _replay_line(replay: LogReplay) -> str:
    return (
        f"replayed {replay.records:,} records from offset 0 in {replay.wall_seconds:.1f} s "
        f"({replay.wall_rate:,.0f} events/s, signatures checked); "
        f"{replay.dead_letter_count:,} dead letters and {replay.rejection_count:,} rejected "
        "events count nowhere"
    )


def _breakdown(rows: list[Any], key: str) -> Table:
    table = Table(key.removesuffix("_id"), "participants", "placed")
    for row in rows:
        table.add_row(getattr(row, key), str(row.participants), str(row.placed))
    return table


@friendly
def history_command(
    participant_id: Annotated[str, typer.Argument(help="the participant's network pseudonym")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    keys_file: KeysFile = None,
) -> None:
    """Every event about one participant across all partners, in order, from the log."""
    settings = cli_settings()
    keys = run(audit_keys(settings, keys_file))
    found = participant_timeline(settings, keys, participant_id)
    if found is None:
        fail(f"participant_id: no event about {participant_id!r} in {settings.topic_events}")
    if as_json:
        console.print_json(found.model_dump_json())
        return
    console.print(_timeline_table(found))


def participant_timeline(settings: Settings, keys: KeyRing, participant_id: str) -> Timeline | None:
    """The participant's timeline folded from the log; None when no event names them.

    Events are keyed by participant, so only records with that key are decoded.
    """
    key = participant_id.encode()
    replay = Replay(keys)
    ends = log_ends(settings)
    with event_progress(err_console) as progress:
        task = progress.add_task("reading the log", total=sum(ends.values()))
        mine = [
            r
            for r in read_log(settings, ends, on_progress=lambda n: progress.advance(task, n))
            if r.key == key
        ]
    replay.feed(mine)
    state = replay.states.get(participant_id)
    if state is None and not replay.rejections:
        return None
    rejected = [r for r in replay.rejections if r.participant_id == participant_id]
    return timeline(state or ParticipantState(participant_id), rejected)


_STATUS_STYLE = {"counts": "", "retracted": "strike dim", "rejected": "red"}


def _timeline_table(found: Timeline) -> Table:
    table = Table(
        "occurred", "recorded", "type", "partner", "site", "status", title=found.participant_id
    )
    for event in found.events:
        status: str = event.status
        if event.retracted_by:
            by = "; ".join(f"{r.partner_id}: {r.reason}" for r in event.retracted_by)
            status = f"retracted by {by}"
        elif event.rejection_reason:
            status = f"rejected: {event.rejection_reason}"
        table.add_row(
            f"{event.occurred_at:%Y-%m-%d %H:%M}",
            f"{event.recorded_at:%Y-%m-%d %H:%M}",
            event.type,
            event.partner_id,
            event.site or "",
            escape(status),
            style=_STATUS_STYLE[event.status],
        )
    return table


@friendly
def keys_command(
    output: Annotated[Path, typer.Argument(help="file to write the keys to (JSON)")],
) -> None:
    """Write every registered public key to a file, for replays without the database."""
    documents = run(registered_documents(cli_settings()))
    output.write_text(json.dumps(documents, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {len(documents)} public keys to {output}")
