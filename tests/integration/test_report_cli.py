"""`refnet report esf` on the demo network: every file holds the figures of `GET /v1/network/esf`.

The command runs as its own process with the world's settings as environment, like
an operator runs it; its files are read back with the csv module, openpyxl and pypdf,
and the replay command printed in its stamp is run to show that it reproduces them.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
from typer.testing import CliRunner

from refnet.projections.reports.esf import EsfReport
from refnet.services.cli.main import app
from refnet.services.demo.generator import demo_history
from refnet.services.localstack.process import settings_env
from tests.integration.api_client import coordinator_get
from tests.integration.world import World
from tests.unit.test_report_files import csv_rows, expected, pdf_text, row_text

pytestmark = pytest.mark.integration

REFNET = [sys.executable, "-m", "refnet.services.cli.main"]
PERIOD = {"from": "2023-07-01", "to": "2024-07-01"}


def refnet(world: World, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*REFNET, *args],
        env=settings_env(world.settings) | {"COLUMNS": "200"},
        capture_output=True,
        timeout=240,
        check=False,
    )


async def api_esf(world: World, query: dict[str, str]) -> EsfReport:
    """The report as the API answers it to the coordinator."""
    response = await coordinator_get(world.settings, "/v1/network/esf", query, "report test")
    assert response.status_code == 200, response.text
    return EsfReport.model_validate(response.json())


def same_figures(made: EsfReport, answer: EsfReport) -> None:
    """Equal in every figure, period and log position; only the instant made differs."""
    stamp: Any = {"period": {"as_of"}}
    assert made.model_dump(exclude=stamp) == answer.model_dump(exclude=stamp)


def ordered(report: EsfReport) -> list[tuple[str, tuple[int, ...]]]:
    return [(key, figures) for (_, key), figures in expected(report).items()]


async def test_every_format_holds_the_figures_of_the_api(running: World, tmp_path: Path) -> None:
    running.publish(demo_history())
    await running.wait()
    answer = await api_esf(running, PERIOD)
    assert answer.output.EECO01.total > 0 and answer.results_on_leaving.left.total > 0
    bounds = ["--from", PERIOD["from"], "--to", PERIOD["to"]]
    files: dict[str, Path] = {}
    stamps: dict[str, str] = {}  # each run is a report of its own, made at its own instant
    for fmt in ("json", "csv", "xlsx", "pdf"):
        files[fmt] = tmp_path / f"esf.{fmt}"
        done = refnet(running, "report", "esf", *bounds, "--format", fmt, "-o", str(files[fmt]))
        assert done.returncode == 0, done.stderr.decode()
        said = done.stderr.decode()
        assert f"wrote the ESF+ report ({fmt}, de" in said and str(files[fmt]) in said
        assert "reproduce with: refnet audit replay --as-of" in said
        stamps[fmt] = said.split("made at ", 1)[1].split(",", 1)[0]

    made = EsfReport.model_validate_json(files["json"].read_bytes())
    same_figures(made, answer)
    assert made.period.as_of.isoformat() == stamps["json"]
    want = expected(answer)

    rows = csv_rows(files["csv"].read_bytes(), ";")
    heading = next(n for n, row in enumerate(rows) if row[:1] == ["Abschnitt"])
    assert {(r[0], r[2]): tuple(int(n) for n in r[4:] if n) for r in rows[heading + 1 :]} == want
    assert rows[2][1] == stamps["csv"]

    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"].read_bytes()))
    sheet = list(book["Bericht"].iter_rows(values_only=True))
    found = [(r[1], tuple(v for v in r[3:] if v is not None)) for r in sheet]
    assert [(k, f) for k, f in found if f and isinstance(f[0], int)] == ordered(answer)
    assert stamps["xlsx"] in {v for row in sheet for v in row}

    text = pdf_text(files["pdf"].read_bytes())
    for (section, key), figures in want.items():
        assert row_text(section, key, figures, "de") in text
    assert stamps["pdf"] in text

    # The stamp's command reproduces every figure from the log alone.
    command = rows[4][1]
    assert command.startswith("refnet audit replay --as-of ")
    replayed = refnet(running, *shlex.split(command)[1:], "--json")
    assert replayed.returncode == 0, replayed.stderr.decode()
    again = EsfReport.model_validate(json.loads(replayed.stdout))
    assert again.model_dump(exclude={"period"}) == answer.model_dump(exclude={"period"})


async def test_json_goes_to_stdout_and_a_bad_output_is_named(
    running: World, tmp_path: Path
) -> None:
    running.publish(demo_history()[:400])
    await running.wait()
    done = refnet(running, "report", "esf")
    assert done.returncode == 0, done.stderr.decode()
    assert "to stdout" in done.stderr.decode()
    same_figures(EsfReport.model_validate_json(done.stdout), await api_esf(running, {}))

    english = refnet(running, "report", "esf", "--format", "csv", "--lang", "en")
    assert english.returncode == 0, english.stderr.decode()
    assert english.stdout.startswith(b"\xef\xbb\xbfESF+ report,")

    missing = tmp_path / "no-such-folder" / "esf.csv"
    failed = refnet(running, "report", "esf", "--format", "csv", "--output", str(missing))
    assert failed.returncode == 1
    assert f"--output: cannot write {missing}" in failed.stderr.decode()
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--from", "2025-13-01"], "--from: '2025-13-01' is not an ISO 8601 date"),
        (["--from", "2025-02-01", "--to", "2025-01-01"], "--to: '2025-01-01' must be later"),
        (["--format", "docx"], "Invalid value for '--format'"),
        (["--lang", "fr"], "Invalid value for '--lang'"),
    ],
)
def test_a_bad_option_is_named(args: list[str], named: str) -> None:
    # Refused before any connection: the environment's settings are never used.
    result = CliRunner().invoke(app, ["report", "esf", *args], env={"COLUMNS": "200"})
    assert result.exit_code in (1, 2)
    assert named in result.output


def test_binary_formats_refuse_a_terminal() -> None:
    controller, terminal = os.openpty()
    try:
        done = subprocess.run(
            [*REFNET, "report", "esf", "--format", "xlsx"],
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=os.environ | {"COLUMNS": "200"},
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 1
    assert "--output: xlsx is a binary format" in done.stderr.decode()
