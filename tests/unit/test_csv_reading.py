"""Spreadsheet import: reading files, cell values, and problems by line and column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from refnet.events.catalogue import ParticipantEnrolled
from refnet.events.codec import to_canonical_dict
from tests.unit.csv_files import ENGLISH, GERMAN, PARTNER, enrolment, messages, read, valid, write

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
