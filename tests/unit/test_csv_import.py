"""Spreadsheet import: the column layout, cell values, and problems by line and column.

Every test writes a real file and reads it back with `read_csv`, as the CLI does;
nothing here touches the broker.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from refnet.events.catalogue import EVENT_TYPES, ParticipantEnrolled
from refnet.events.codec import to_canonical_dict
from refnet.events.contact import ClearContactRecorded
from refnet.events.settings import Settings
from refnet.services.cli.import_csv import import_file
from refnet.services.imports.csv_import import CsvImport, read_csv
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

README = Path(__file__).resolve().parents[2] / "README.md"
PARTNER = "awo-en"

ENGLISH = {
    "type": "participant.enrolled",
    "participant_id": "p-000001",
    "site": "witten",
    "occurred_at": "2024-03-04",
    "programme": "ESF Netzwerk",
    "residence_status": "duldung",
    "work_permission": "employment_with_authority_permission",
    "sgb2_eligible": "true",
    "employment_status": "unemployed",
    "education_level": "isced_3_4",
    "age_band": "18_29",
    "gender": "female",
    "third_country_national": "yes",
    "german_level": "A2",
    "consent_to_share": "1",
}
# The same facts as a German spreadsheet writes them.
GERMAN = {
    "Ereignis": "Aufnahme",
    "Teilnehmer-ID": "p-000001",
    "Standort": "witten",
    "Datum": "04.03.2024",
    "Programm": "ESF Netzwerk",
    "Aufenthaltsstatus": "Duldung",
    "Arbeitserlaubnis": "employment_with_authority_permission",
    "SGB-II-berechtigt": "ja",
    "Erwerbsstatus": "unemployed",
    "Bildungsniveau": "isced_3_4",
    "Altersgruppe": "18_29",
    "Geschlecht": "Female",
    "Drittstaatsangehörig": "Ja",
    "Deutschniveau": "a2",
    "Einwilligung": "WAHR",
}


def write(path: Path, rows: list[dict[str, str]], delimiter: str = ",", bom: bool = False) -> Path:
    """A CSV file with the union of the rows' keys as header, in first-seen order."""
    header = list(dict.fromkeys(key for row in rows for key in row))
    lines = [delimiter.join(header)]
    lines += [delimiter.join(row.get(key, "") for key in header) for row in rows]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\r\n".join(lines) + "\r\n").encode())
    return path


def read(path: Path, partner: str = PARTNER) -> CsvImport:
    return read_csv(path, partner)


def valid(path: Path, partner: str = PARTNER) -> CsvImport:
    result = read(path, partner)
    assert not result.errors, [str(e) for e in result.errors]
    return result


def messages(result: CsvImport) -> list[str]:
    return [str(e) for e in result.errors]


def enrolment(**changes: str) -> dict[str, str]:
    return ENGLISH | changes


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


# ------------------------------------------------------------- reading files


def test_english_and_german_headers_give_identical_events(tmp_path: Path) -> None:
    english = valid(write(tmp_path / "en.csv", [ENGLISH])).events
    german = valid(write(tmp_path / "de.csv", [GERMAN], delimiter=";")).events

    assert len(english) == 1
    assert [e.model_dump() for e in english] == [e.model_dump() for e in german]


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_comma_or_semicolon_is_recognised(tmp_path: Path, delimiter: str) -> None:
    # A comma inside a quoted cell must not confuse a semicolon file, nor the reverse.
    row = enrolment(programme='"Netzwerk; Arbeit, Ausbildung"')
    [event] = valid(write(tmp_path / "x.csv", [row], delimiter=delimiter)).events

    assert isinstance(event, ParticipantEnrolled)
    assert event.data.programme == "Netzwerk; Arbeit, Ausbildung"


def test_excel_separator_hint_line_is_honoured(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", [enrolment()], delimiter=";")
    path.write_text("sep=;\r\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8") + "\r\nfoo;;\r\n", encoding="utf-8")

    result = read(path)
    assert len(result.rows) == 1
    assert result.rows[0].line == 3
    assert messages(result) == ["line 5, column \"type\": unknown event type 'foo'"]


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    plain = valid(write(tmp_path / "plain.csv", [GERMAN], delimiter=";")).events
    marked = valid(write(tmp_path / "bom.csv", [GERMAN], delimiter=";", bom=True)).events

    assert plain == marked


def test_a_file_that_is_not_utf8_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", [enrolment(programme="Integration")])
    text = path.read_text(encoding="utf-8").replace("Integration", "Förderung")
    path.write_bytes(text.encode("cp1252"))

    result = read(path)
    assert not result.rows
    [message] = messages(result)
    assert message.startswith("line 2: not UTF-8 text (byte 0xf6)")
    assert '"CSV UTF-8' in message


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2024-03-04T09:15:00+01:00", "2024-03-04T08:15:00.000000Z"),
        ("2024-07-01T09:15:00Z", "2024-07-01T09:15:00.000000Z"),
        # A plain date is midnight in Germany: CET in winter, CEST in summer.
        ("2024-03-04", "2024-03-03T23:00:00.000000Z"),
        ("04.03.2024", "2024-03-03T23:00:00.000000Z"),
        ("1.7.2024", "2024-06-30T22:00:00.000000Z"),
    ],
)
def test_dates_in_three_formats(tmp_path: Path, written: str, utc: str) -> None:
    [event] = valid(write(tmp_path / "x.csv", [enrolment(occurred_at=written)])).events
    assert isinstance(event, ParticipantEnrolled)
    body = to_canonical_dict(event)

    assert body["occurred_at"] == utc
    assert body["recorded_at"] == utc  # defaults to occurred_at


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("2024-03-04T09:15:00", "has no offset"),
        ("31.02.2024", "is not a day of the calendar"),
        ("04.03.24", "expected an ISO 8601 date-time with offset"),
        ("March 4th", "expected an ISO 8601 date-time with offset"),
    ],
)
def test_bad_dates_are_explained(tmp_path: Path, written: str, reason: str) -> None:
    result = read(write(tmp_path / "x.csv", [enrolment(occurred_at=written)]))

    [message] = messages(result)
    assert message.startswith('line 2, column "occurred_at": ')
    assert reason in message


def test_recorded_at_when_given_is_kept(tmp_path: Path) -> None:
    row = enrolment(occurred_at="2024-03-04", recorded_at="2024-04-02T10:00:00+02:00")
    [event] = valid(write(tmp_path / "x.csv", [row])).events

    assert event.recorded_at == dt.datetime(2024, 4, 2, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("written", "value"),
    [("true", True), ("JA", True), ("yes", True), ("Wahr", True), ("1", True)]
    + [("false", False), ("nein", False), ("No", False), ("FALSCH", False), ("0", False)],
)
def test_booleans(tmp_path: Path, written: str, value: bool) -> None:
    [event] = valid(write(tmp_path / "x.csv", [enrolment(sgb2_eligible=written)])).events

    assert isinstance(event, ParticipantEnrolled)
    assert event.data.sgb2_eligible is value


def test_a_word_that_is_not_yes_or_no_is_an_error(tmp_path: Path) -> None:
    result = read(write(tmp_path / "x.csv", [enrolment(consent_to_share="vielleicht")]))

    assert messages(result) == [
        'line 2, column "consent_to_share": expected ja or nein (yes/no, true/false, 1/0)'
    ]


def test_refused_in_english_or_german(tmp_path: Path) -> None:
    rows = [
        enrolment(gender="refused", sgb2_eligible="Verweigert"),
        enrolment(participant_id="p-000002", age_band="verweigert"),
    ]
    first, second = valid(write(tmp_path / "x.csv", rows)).events

    assert isinstance(first, ParticipantEnrolled) and isinstance(second, ParticipantEnrolled)
    assert (first.data.gender, first.data.sgb2_eligible) == ("refused", "refused")
    assert second.data.age_band == "refused"


def test_refused_is_only_for_sensitive_fields(tmp_path: Path) -> None:
    result = read(write(tmp_path / "x.csv", [enrolment(consent_to_share="verweigert")]))

    assert messages(result) == [
        'line 2, column "consent_to_share": expected ja or nein (yes/no, true/false, 1/0)'
    ]


def test_a_wrong_value_names_the_column_as_written_in_the_file(tmp_path: Path) -> None:
    result = read(write(tmp_path / "x.csv", [GERMAN | {"Geschlecht": "weiblich"}], ";"))

    assert messages(result) == [
        'line 2, column "Geschlecht": Input should be '
        "'female', 'male', 'diverse' or 'not_stated' (or 'refused')"
    ]


def test_an_unknown_column_is_an_error_naming_it(tmp_path: Path) -> None:
    result = read(write(tmp_path / "x.csv", [GERMAN | {"Geschlect": "female", "Notiz": "x"}], ";"))

    assert messages(result) == [
        'line 1, column "Geschlect": unknown column (did you mean "Geschlecht"?)',
        'line 1, column "Notiz": unknown column',
    ]
    assert result.file_errors  # a header problem spoils the whole file


def test_the_same_column_twice_is_an_error(tmp_path: Path) -> None:
    result = read(write(tmp_path / "x.csv", [enrolment() | {"Geschlecht": "male"}]))

    assert messages(result) == ['line 1, column "Geschlecht": the same column as "gender"']


def test_a_missing_envelope_column_is_reported_once(tmp_path: Path) -> None:
    rows = [{k: v for k, v in GERMAN.items() if k != "Standort"}] * 3
    result = read(write(tmp_path / "x.csv", rows, ";"))

    assert messages(result) == ['line 1, column "Standort": missing: every row needs it']


def test_a_missing_data_column_is_reported_on_the_row_that_needs_it(tmp_path: Path) -> None:
    referral = {"type": "referral.sent", "participant_id": "p-000001", "site": "witten"}
    referral |= {"occurred_at": "2024-03-05", "referral_id": "r-1", "to_partner": "bobeq"}
    result = read(write(tmp_path / "x.csv", [enrolment(), referral]))

    assert messages(result) == [
        'line 3, column "service": Field required (the file has no such column)'
    ]
    assert [r.line for r in result.rows] == [2]


def test_a_partner_id_column_must_match_the_partner(tmp_path: Path) -> None:
    rows = [enrolment(partner_id=PARTNER), enrolment(participant_id="p-000002", partner_id="bobeq")]
    result = read(write(tmp_path / "x.csv", rows))

    assert messages(result) == [
        "line 3, column \"partner_id\": is 'bobeq', but this import is for --partner 'awo-en'"
    ]
    assert [r.event.partner_id for r in result.rows] == [PARTNER]


def test_every_problem_is_listed_by_physical_line_and_column(tmp_path: Path) -> None:
    referral = {"Vermittlungs-ID": "r-1", "An Partner": "awo-en", "Leistung": "counselling"}
    rows = [
        # lines 2-3: a quoted line break is one cell, but free text stays on one line
        GERMAN | {"Programm": '"Netzwerk\nmit Zeilenumbruch"'},
        GERMAN | {"Teilnehmer-ID": "Max Mustermann", "Altersgruppe": "25"},  # line 4
        {},  # line 5, blank
        GERMAN | {"Ereignis": "participant.placd", "Datum": "gestern"},  # line 6
        {k: v for k, v in GERMAN.items() if k in ("Teilnehmer-ID", "Standort", "Datum")}
        | {"Ereignis": "vermittlung_gesendet", "Geschlecht": "male"}
        | referral,  # line 7
    ]
    result = read(write(tmp_path / "x.csv", rows, ";"))

    assert [r.line for r in result.rows] == []
    assert messages(result) == [
        'line 2, column "Programm": Value error, control characters (line breaks, tabs, NUL) '
        "are not allowed",
        "line 4, column \"Teilnehmer-ID\": String should match pattern '^[A-Za-z0-9_-]{6,64}$'",
        "line 4, column \"Altersgruppe\": Input should be 'under_18', '18_29', '30_54' or "
        "'55_plus' (or 'refused')",
        "line 6, column \"Ereignis\": unknown event type 'participant.placd' "
        '(did you mean "participant.placed"?)',
        'line 7, column "Geschlecht": not a column of referral.sent; leave it empty on this line',
        'line 7, column "An Partner": a partner cannot refer to itself',
    ]
    assert result.invalid_lines == [2, 4, 6, 7]


def test_a_value_beyond_the_header_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", [enrolment()])
    path.write_text(path.read_text(encoding="utf-8").rstrip() + ",,extra\r\n", encoding="utf-8")

    assert messages(read(path)) == [f"line 2: cell {len(ENGLISH) + 2} has a value but no header"]


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
    placed = {
        "type": "participant.placed",
        "participant_id": "p-000001",
        "site": "witten",
        "occurred_at": "2024-06-01",
        "placement_id": "pl-1",
        "kind": "employment",
        "start_date": "01.07.2024",
    }
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


# ------------------------------------------------------- contact details and consent


def test_contact_and_consent_cells_add_events_to_their_row(tmp_path: Path) -> None:
    row = enrolment(
        name="Amina Haddad",
        phone="+49 176 1234567",
        preferred_language="ar",
        consent_contact_details="caritas-witten",
        consent_follow_up="ja",
    )

    result = valid(write(tmp_path / "cases.csv", [row]))

    enrolled, contact, passing, follow_up = result.events
    assert enrolled.type == "participant.enrolled"
    assert isinstance(contact, ClearContactRecorded)
    assert contact.data.contact.phone == "+49 176 1234567"
    assert contact.data.contact.name == "Amina Haddad"
    assert (passing.type, follow_up.type) == ("consent.given", "consent.given")
    assert passing.model_dump()["data"] == {
        "purpose": "pass_contact_details",
        "recipient": "caritas-witten",
    }
    assert follow_up.model_dump()["data"] == {"purpose": "follow_up_contact", "recipient": None}
    for added in (contact, passing, follow_up):
        assert (added.participant_id, added.occurred_at) == (
            enrolled.participant_id,
            enrolled.occurred_at,
        )
    assert len({e.event_id for e in result.events}) == 4


def test_added_events_keep_their_ids_and_no_id_hashes_contact_details(tmp_path: Path) -> None:
    row = enrolment(phone="+49 176 1234567")
    first = valid(write(tmp_path / "a.csv", [row])).events
    again = valid(write(tmp_path / "b.csv", [row])).events
    changed = valid(write(tmp_path / "c.csv", [enrolment(phone="+49 176 7654321")])).events

    assert [e.event_id for e in first] == [e.event_id for e in again]
    # The id does not depend on the phone number: it cannot confirm a guess of it.
    assert first[1].event_id == changed[1].event_id


def test_a_contact_row_holds_only_contact_details(tmp_path: Path) -> None:
    row = {
        "Ereignis": "Kontaktdaten",
        "Teilnehmer-ID": "p-000001",
        "Standort": "witten",
        "Datum": "04.03.2024",
        "Telefon": "0176 1234567",
        "E-Mail": "amina@example.org",
    }

    [event] = valid(write(tmp_path / "contact.csv", [row], delimiter=";")).events

    assert isinstance(event, ClearContactRecorded)
    assert event.data.contact.email == "amina@example.org"


def test_a_bad_contact_or_consent_cell_names_its_row_and_column(tmp_path: Path) -> None:
    rows = [
        enrolment(phone="call me"),
        enrolment(participant_id="p-000002", email="nobody"),
        enrolment(participant_id="p-000003", consent_contact_details="Caritas Witten"),
        enrolment(participant_id="p-000004", consent_follow_up="maybe"),
    ]

    result = read(write(tmp_path / "bad.csv", rows))

    found = messages(result)
    assert found[0].startswith('line 2, column "phone": ') and "phone number" in found[0]
    assert found[1].startswith('line 3, column "email": ') and "e-mail" in found[1]
    assert found[2].startswith('line 4, column "consent_contact_details": expected a partner')
    assert found[3].startswith('line 5, column "consent_follow_up": expected ja or nein')
    assert len(found) == 4 and not result.rows


def test_a_no_to_follow_up_records_a_withdrawal(tmp_path: Path) -> None:
    result = valid(write(tmp_path / "no.csv", [enrolment(consent_follow_up="nein")]))

    assert [e.type for e in result.events] == ["participant.enrolled", "consent.withdrawn"]


def test_network_events_are_not_imported(tmp_path: Path) -> None:
    row = {
        "type": "privacy.erasure_requested",
        "participant_id": "p-000001",
        "site": "witten",
        "occurred_at": "2024-03-04",
        "reason": "asked for it",
    }

    result = read(write(tmp_path / "erase.csv", [row]))

    assert messages(result) == [
        'line 2, column "type": privacy.erasure_requested is recorded by the network '
        "(`refnet privacy`), not imported"
    ]


def test_personal_data_in_free_text_is_refused_at_its_cell(tmp_path: Path) -> None:
    row = {
        "type": "event.retracted",
        "participant_id": "p-000001",
        "site": "witten",
        "occurred_at": "2024-03-04",
        "retracted_event_id": str(uuid.uuid4()),
        "reason": "wrong person: call +49 176 1234567",
    }

    [message] = messages(read(write(tmp_path / "pii.csv", [row])))

    assert message.startswith('line 2, column "reason": holds what looks like a phone number')
