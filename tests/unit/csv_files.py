"""Spreadsheets for the import tests: headers in English and German, written and read."""

from __future__ import annotations

from pathlib import Path

from refnet.services.imports.csv_import import CsvImport, read_csv

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


def event_row(kind: str, /, occurred_at: str = "2024-03-04", **cells: str) -> dict[str, str]:
    """A row of `kind` for the first participant at witten, with its own data cells."""
    row = {"type": kind, "participant_id": "p-000001", "site": "witten"}
    return row | {"occurred_at": occurred_at} | cells
