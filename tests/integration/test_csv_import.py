"""Spreadsheet import against the real broker and read model.

Two partners import their spreadsheets (one German with semicolons, one English
with commas); a worker projects them; importing again changes no count; a dry
run and an invalid file publish nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from refnet.services.cli.import_csv import import_file
from refnet.services.cli.main import app
from refnet.services.kafka.topics import high_watermarks
from refnet.services.localstack.process import settings_env
from tests.integration.world import World

pytestmark = pytest.mark.integration

HEADER = (
    "Ereignis;Teilnehmer-ID;Standort;Datum;Programm;Aufenthaltsstatus;Arbeitserlaubnis;"
    "SGB-II-berechtigt;Erwerbsstatus;Bildungsniveau;Altersgruppe;Geschlecht;"
    "Drittstaatsangehörig;Deutschniveau;Einwilligung;Vermittlungs-ID;An Partner;Leistung;"
    "Platzierungs-ID;Art;Beginn"
)


def enrolment(pid: str, site: str, date: str, gender: str) -> str:
    facts = "duldung;employment_with_authority_permission;ja;unemployed;isced_3_4;18_29"
    return f"aufnahme;{pid};{site};{date};Netzwerk Integration;{facts};{gender};ja;A2;ja;;;;;;"


AWO_FILE = "\r\n".join(
    [
        HEADER,
        # The placement comes first: rows are published in time order, not file order.
        "platzierung;p-csv-000002;witten;03.06.2024"
        + ";" * 15
        + "pl-csv-1;apprenticeship;1.8.2024",
        enrolment("p-csv-000001", "witten", "04.03.2024", "female"),
        enrolment("p-csv-000002", "witten", "05.03.2024", "verweigert"),
        enrolment("p-csv-000003", "hattingen", "2024-03-06T10:30:00+01:00", "male"),
        "vermittlung_gesendet;p-csv-000001;witten;11.03.2024" + ";" * 12 + "r-csv-1;bobeq;"
        "job_placement;;;",
    ]
)
BOBEQ_FILE = "\n".join(
    [
        "type,participant_id,site,occurred_at,referral_id",
        "referral.accepted,p-csv-000001,witten,2024-03-13,r-csv-1",
    ]
)


def published(world: World) -> int:
    return sum(high_watermarks(world.settings, world.settings.topic_events).values())


def spreadsheet(path: Path, text: str) -> Path:
    path.write_text(text + "\r\n", encoding="utf-8-sig")  # as Excel saves "CSV UTF-8"
    return path


async def test_imported_spreadsheets_are_counted_once_however_often_imported(
    world: World, tmp_path: Path
) -> None:
    awo = spreadsheet(tmp_path / "awo.csv", AWO_FILE)
    bobeq = spreadsheet(tmp_path / "bobeq.csv", BOBEQ_FILE)

    assert import_file(world.settings, "awo-en", awo).published == 5
    assert import_file(world.settings, "bobeq", bobeq).published == 1
    world.start_worker()
    await world.wait()
    outcomes = await world.outcomes()
    assert outcomes.participants == 3
    assert (outcomes.placed.total, outcomes.placed.apprenticeship) == (1, 1)
    refs = outcomes.referrals
    assert (refs.sent, refs.accepted, refs.declined, refs.pending) == (1, 1, 0, 0)
    assert {s.site: s.participants for s in outcomes.by_site} == {"witten": 2, "hattingen": 1}
    before = await world.dump()

    assert import_file(world.settings, "awo-en", awo).published == 5
    assert import_file(world.settings, "bobeq", bobeq).published == 1
    assert published(world) == 12
    await world.wait()
    assert await world.outcomes() == outcomes
    assert await world.dump() == before
    assert await world.fetch("SELECT reason FROM dead_letters") == []


def test_a_dry_run_publishes_nothing(world: World, tmp_path: Path) -> None:
    awo = spreadsheet(tmp_path / "awo.csv", AWO_FILE)

    result = CliRunner().invoke(
        app,
        ["import", "--partner", "awo-en", "--dry-run", str(awo)],
        env=settings_env(world.settings),
    )
    assert result.exit_code == 0, result.output
    assert "participant.enrolled" in result.output
    assert "5 valid event(s)" in result.output
    assert "nothing was published" in result.output
    assert published(world) == 0


def test_an_invalid_file_publishes_nothing(world: World, tmp_path: Path) -> None:
    broken = AWO_FILE.replace("verweigert;ja;A2", "verweigert;ja;A9")
    path = spreadsheet(tmp_path / "awo.csv", broken)

    result = CliRunner().invoke(
        app, ["import", "--partner", "awo-en", str(path)], env=settings_env(world.settings)
    )
    assert result.exit_code == 1
    assert 'line 4, column "Deutschniveau": Input should be' in result.output
    assert "nothing was published" in result.output
    assert published(world) == 0

    report = import_file(world.settings, "awo-en", path, skip_invalid=True)
    assert (report.ok, report.published, report.skipped_lines) == (True, 4, (4,))
    assert published(world) == 4
