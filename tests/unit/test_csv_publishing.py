"""Spreadsheet import: event ids, the order of publishing, and the command without a broker."""

from __future__ import annotations

import uuid
from pathlib import Path

from refnet.events.settings import Settings
from refnet.services.cli.import_csv import import_file
from tests.unit.csv_files import PARTNER, enrolment, event_row, messages, read, valid, write

# ------------------------------------------------------------------ event ids


def test_derived_event_ids_are_deterministic(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", [enrolment(), enrolment(participant_id="p-000002")])
    first = [e.event_id for e in valid(path).events]
    again = [e.event_id for e in valid(path).events]
    other_partner = [e.event_id for e in valid(path, "bobeq").events]
    changed = write(tmp_path / "y.csv", [enrolment(gender="male")])

    assert first == again
    assert len(set(first)) == 2
    assert not set(first) & set(other_partner)
    assert valid(changed).events[0].event_id not in first
    assert all(e.version == 5 for e in first)


def test_a_given_event_id_is_kept(tmp_path: Path) -> None:
    given = uuid.UUID("0b9d3c0e-6a1f-4c1e-9d1a-2f4e6b8a0c11")
    [event] = valid(write(tmp_path / "x.csv", [enrolment(event_id=str(given))])).events

    assert event.event_id == given


def test_one_written_event_id_for_two_different_rows_is_an_error(tmp_path: Path) -> None:
    given = "0b9d3c0e-6a1f-4c1e-9d1a-2f4e6b8a0c11"
    rows = [enrolment(event_id=given), enrolment(event_id=given, gender="male")]
    result = read(write(tmp_path / "x.csv", rows))

    assert messages(result) == [
        'line 3, column "event_id": the same event_id as line 2, for a different event'
    ]


def test_events_are_published_in_time_order(tmp_path: Path) -> None:
    placed = event_row(
        "participant.placed",
        occurred_at="2024-06-01",
        placement_id="pl-1",
        kind="employment",
        start_date="01.07.2024",
    )
    result = valid(write(tmp_path / "x.csv", [placed, enrolment()]))

    assert [e.type for e in result.events] == ["participant.enrolled", "participant.placed"]
    assert result.counts() == {"participant.placed": 1, "participant.enrolled": 1}


# ------------------------------------------------------- the command, no broker


def offline() -> Settings:
    # Nothing listens here: a test that reached the broker would fail, not hang.
    return Settings(kafka_bootstrap="127.0.0.1:9", keys_dir=Path("does-not-exist"))


def test_an_invalid_file_publishes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", [enrolment(), enrolment(gender="x")])

    report = import_file(offline(), PARTNER, path, dry_run=False, skip_invalid=False)
    assert (report.ok, report.valid, report.published) == (False, 1, 0)


def test_a_dry_run_validates_and_counts(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv", [enrolment(), enrolment(participant_id="p-000002", gender="x")]
    )

    strict = import_file(offline(), PARTNER, path, dry_run=True, skip_invalid=False)
    lenient = import_file(offline(), PARTNER, path, dry_run=True, skip_invalid=True)
    assert (strict.ok, strict.published) == (False, 0)
    assert (lenient.ok, lenient.valid, lenient.published) == (True, 1, 0)
    assert lenient.skipped_lines == (3,)


def test_skip_invalid_never_skips_a_broken_header(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", [enrolment() | {"Notiz": "x"}])

    report = import_file(offline(), PARTNER, path, dry_run=False, skip_invalid=True)
    assert (report.ok, report.published) == (False, 0)
