"""`refnet report`: documents for the funder, made from the read model.

`refnet report esf` counts the ESF+ report with the same function as
`GET /v1/network/esf` and writes it as JSON, CSV, XLSX or PDF; stderr says where
it went and the stamp that `refnet audit replay --as-of` reproduces it from.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

import asyncpg
import click
import typer

from refnet.projections.reports.esf import EsfReport, network_esf
from refnet.projections.store.views import Period
from refnet.services.cli.audit_replay import parse_instant
from refnet.services.cli.console import err_console, fail, friendly
from refnet.services.cli.root import cli_settings, with_connection
from refnet.services.reports.esf_files import FORMATS, render
from refnet.services.reports.layout import stamp

report_app = typer.Typer(no_args_is_help=True, help="Reports for the funder (ESF+).")


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"


class Language(StrEnum):
    DE = "de"
    EN = "en"


BOUND_HELP = "ISO 8601 date (its midnight, UTC) or date-time"


def report_period(start: str | None, end: str | None) -> Period:
    """The period `[--from, --to)`; either may be open; a bad bound names its option."""
    first = parse_instant(start, "--from") if start is not None else None
    last = parse_instant(end, "--to") if end is not None else None
    if first is not None and last is not None and last <= first:
        fail(f"--to: {end!r} must be later than --from {start!r}")
    return Period.model_validate({"from": first, "to": last})


def _write(content: bytes, output: Path | None, stdout: BinaryIO) -> str:
    if output is None:
        stdout.write(content)
        stdout.flush()
        return "stdout"
    try:
        output.write_bytes(content)
    except OSError as exc:
        fail(f"--output: cannot write {output}: {exc.strerror or exc}")
    return str(output)


@friendly
def esf_command(
    start: Annotated[
        str | None, typer.Option("--from", help=f"start, inclusive: {BOUND_HELP}")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help=f"end, exclusive: {BOUND_HELP}")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="file format")] = ReportFormat.JSON,
    lang: Annotated[
        Language, typer.Option("--lang", help="language of the labels", case_sensitive=False)
    ] = Language.DE,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="file to write; default stdout"),
    ] = None,
) -> None:
    """The ESF+ common indicators of a period, stamped with the instant and log position."""
    settings = cli_settings()
    period = report_period(start, end)
    stdout = click.get_binary_stream("stdout")
    # Checked before counting: an XLSX or PDF would only garble the terminal.
    if output is None and FORMATS[fmt.value].binary and stdout.isatty():
        fail(f"--output: {fmt.value} is a binary format; name a file or redirect stdout")

    async def count(conn: asyncpg.Connection) -> EsfReport:
        return await network_esf(conn, period, settings.topic_events)

    report = with_connection(settings, count)
    rendered = render(report, fmt.value, lang.value)
    where = _write(rendered.content, output, stdout)
    made = stamp(report, lang.value)
    err_console.print(
        f"wrote the ESF+ report ({fmt.value}, {lang.value}, {len(rendered.content):,} bytes) "
        f"to {where}",
        markup=False,
        highlight=False,
    )
    err_console.print(
        f"made at {made.made_at.isoformat()}, log position {made.position_text}",
        markup=False,
        highlight=False,
    )
    err_console.print(f"reproduce with: {made.command}", markup=False, highlight=False)


report_app.command("esf")(esf_command)
