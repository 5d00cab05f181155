"""Spreadsheet import: the column layout, its German names and its documentation."""

from __future__ import annotations

from refnet.events.catalogue import EVENT_TYPES
from refnet.services.imports.csv_layout import (
    ADDED_COLUMNS,
    DATA_COLUMNS,
    ENVELOPE_COLUMNS,
    GERMAN_HEADERS,
    GERMAN_TYPES,
    HEADERS,
    NOT_IMPORTED,
    TYPE_NAMES,
    header_key,
    layout_markdown,
)
from tests.unit.csv_files import README

# ----------------------------------------------------------------- the layout


def test_the_readme_documents_the_generated_layout() -> None:
    assert layout_markdown() in README.read_text(encoding="utf-8"), (
        "README.md's 'Spreadsheet import' table is stale; paste the output of "
        "`python -c 'from refnet.services.imports.csv_layout import layout_markdown as m; "
        "print(m())'`"
    )


def test_every_column_and_event_type_has_one_german_name() -> None:
    names = {c.name for c in ENVELOPE_COLUMNS + ADDED_COLUMNS} | {
        c.name for columns in DATA_COLUMNS.values() for c in columns
    }
    assert names == set(GERMAN_HEADERS)
    assert set(GERMAN_TYPES) == set(DATA_COLUMNS) == set(EVENT_TYPES) - set(NOT_IMPORTED)
    # No spelling of one column or type may be read as another's.
    for name, german in GERMAN_HEADERS.items():
        assert HEADERS[header_key(name)][0] == HEADERS[header_key(german)][0] == name
    for event_type, german in GERMAN_TYPES.items():
        assert TYPE_NAMES[header_key(event_type)] == TYPE_NAMES[header_key(german)] == event_type


def test_the_layout_follows_the_catalogue_models() -> None:
    placed = {c.name: c for c in DATA_COLUMNS["participant.placed"]}
    assert list(placed) == ["placement_id", "kind", "start_date"]
    assert placed["kind"].choices == ("apprenticeship", "employment")
    assert placed["start_date"].base == "date"
    enrolled = {c.name: c for c in DATA_COLUMNS["participant.enrolled"]}
    assert enrolled["gender"].refusable and enrolled["sgb2_eligible"].base == "bool"
    assert not enrolled["consent_to_share"].refusable
    envelope = {c.name: c.required for c in ENVELOPE_COLUMNS}
    assert envelope == {
        "type": True,
        "event_id": False,
        "partner_id": False,
        "site": True,
        "participant_id": True,
        "occurred_at": True,
        "recorded_at": False,
        "correlation_id": False,
        "causation_id": False,
    }


def test_headers_ignore_case_spaces_dashes_and_underscores() -> None:
    assert header_key("  Teilnehmer ID ") == header_key("teilnehmer-id") == "teilnehmer_id"
    assert HEADERS[header_key("MASSNAHME-ID")] == ("training_id", True)
    assert HEADERS[header_key("Participant ID")] == ("participant_id", False)
