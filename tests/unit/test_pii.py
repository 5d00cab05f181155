"""The PII gate: each detector's hits and near misses, the IBAN checksum, and the gate on events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from refnet.events.catalogue import EVENT_TYPES
from refnet.events.codec import encode, validate
from refnet.events.pii import (
    BIRTH_DATE,
    EMAIL,
    IBAN,
    PHONE,
    STREET_ADDRESS,
    find_pii,
    free_text_fields,
    iban_valid,
    mask,
    pii_problems,
)
from refnet.projections.worker.projector import Record
from refnet.services.demo.generator import demo_history
from refnet.services.privacy.scan import CLEAR_CONTACT, scan_record
from tests.unit.examples import EXAMPLE_TYPES, valid_example

TODAY = dt.date(2026, 12, 2)


def kinds(text: str) -> list[str]:
    return [f.kind for f in find_pii(text, TODAY)]


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        ("Kontakt: max.mustermann@example.org", EMAIL, "max.mustermann@example.org"),
        ("schreibt an m.yilmaz (at) web.de", EMAIL, "m.yilmaz (at) web.de"),
        ("mobil +49 176 1234567", PHONE, "+49 176 1234567"),
        ("Tel. 0176/1234567", PHONE, "0176/1234567"),
        ("Tel:(030) 123 45 67", PHONE, "(030) 123 45 67"),
        ("ruft an unter 0231-12345678.", PHONE, "0231-12345678"),
        ("über 0049 176 1234567 erreichbar", PHONE, "0049 176 1234567"),
        ("+49 (0) 176 1234567", PHONE, "+49 (0) 176 1234567"),
        ("0176 - 123 45 67", PHONE, "0176 - 123 45 67"),
        ("+44 20 7946 0958", PHONE, "+44 20 7946 0958"),
        ("Tel.: 02302 / 12 34 56", PHONE, "02302 / 12 34 56"),
        ("Tel 0231-2019", PHONE, "0231-2019"),  # a phone word outweighs the year-like group
        ("Ref 0176 1234567", PHONE, "0176 1234567"),  # and so does a mobile prefix
        ("Konto DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", IBAN, "DE89 3704 0044 0532 0130 00"),
        ("iban DE89370400440532013000", IBAN, "DE89370400440532013000"),
        ("AT611904300234573201", IBAN, "AT611904300234573201"),
        ("geboren am 12.03.2010", BIRTH_DATE, "12.03.2010"),
        ("geb. 5.7.2012", BIRTH_DATE, "5.7.2012"),
        ("DOB: 2011-05-01", BIRTH_DATE, "2011-05-01"),
        ("Geburtsdatum 12. März 2011", BIRTH_DATE, "12. März 2011"),
        ("* 3. Mai 2013", BIRTH_DATE, "3. Mai 2013"),
        ("kam am 12.03.1987 zur Welt", BIRTH_DATE, "12.03.1987"),  # far back: a birth date
        ("born in 1990", BIRTH_DATE, "born in 1990"),
        ("born on March 1, 2011", BIRTH_DATE, "March 1, 2011"),
        ("geb. 1.10.05", BIRTH_DATE, "1.10.05"),
        ("Jahrgang 1990", BIRTH_DATE, "Jahrgang 1990"),
        ("wohnt Hauptstraße 12", STREET_ADDRESS, "Hauptstraße 12"),
        ("Bahnhofstr. 5a", STREET_ADDRESS, "Bahnhofstr. 5a"),
        ("Lindenweg 7", STREET_ADDRESS, "Lindenweg 7"),
        ("Marktplatz 1", STREET_ADDRESS, "Marktplatz 1"),
        ("Berliner Straße 5", STREET_ADDRESS, "Berliner Straße 5"),
        ("Berliner Platz 3", STREET_ADDRESS, "Berliner Platz 3"),
        ("Westring 5", STREET_ADDRESS, "Westring 5"),
        ("Ostwall 5", STREET_ADDRESS, "Ostwall 5"),
        ("Am Markt 3 in Witten", STREET_ADDRESS, "Am Markt 3"),
        ("An der Kirche 5", STREET_ADDRESS, "An der Kirche 5"),
        ("Anne-Frank-Straße 3-5", STREET_ADDRESS, "Anne-Frank-Straße 3-5"),
        ("wohnt Am Markt 3", STREET_ADDRESS, "Am Markt 3"),
        ("44135 Dortmund", STREET_ADDRESS, "44135 Dortmund"),
        ("umgezogen nach D-58452 Witten", STREET_ADDRESS, "D-58452 Witten"),
    ],
)
def test_each_detector_finds_its_kind(text: str, kind: str, found: str) -> None:
    (finding,) = find_pii(text, TODAY)
    assert (finding.kind, finding.text) == (kind, found)
    assert text[finding.start : finding.end] == found


@pytest.mark.parametrize(
    "text",
    [
        # the demo's and the catalogue's usual texts
        "ESF Plus: Netzwerk Ennepe-Ruhr und Bochum",
        "ESF+ Bleiberecht EN",
        "ESF+ 2021-27",
        "Programm 2021–2027",
        "enrolment entered twice",
        "declined by mistake",
        "placement kind recorded wrongly",
        "pseudonym mistyped; enrolled again under the right one",
        "the participant asked for erasure",
        "recorded in error",
        # numbers that are no phone
        "3 Monate",
        "nach 6 Monaten, 12 Wochen",
        "zwischen 0 und 100",
        "Termin um 08:30",
        "Kurs 0815",
        "Version 0.1.2",
        "padded id 0001234567",
        "ref-2025-0001",
        "event 0a1b2c3d-0123-4567-89ab-0123456789ab retracted",
        "01/02/2025",
        "01-02-2025 bis 03-04-2025",
        "Aktenzeichen 03-2025-0117",
        "AZ 0815/2025",
        "Az. 0123 4567",
        "Fall-Nr. 0456 7890 123",
        # dates that are no birth date, IBAN look-alikes
        "start date 01.03.2025 entered wrongly",
        "placed on 2024-11-30, not 2024-12-01",
        "Zeitraum 01.01.2022 - 31.12.2027",
        "Version 1.10.05",  # a two-digit year needs a birth word
        "Start*: 01.03.2025",
        "DE89370400440532013001",  # one digit off: the checksum fails
        "ISO 13616 ABCD1234EFGH5678",
        "p-ef703ad5aadceec0",  # a hex pseudonym that passes mod-97 by chance
        "EF703AD5AADCEEC0",  # no IBAN country
        # words next to numbers that are no address
        "Im Jahr 2025",
        "Am Montag 3 Termine",
        "Im Kurs 2 Plätze frei",
        "Ausbildungsplatz 2 abgelehnt",
        "Erster Platz 1",
        "Auf Platz 1 der Warteliste",
        "Mentoring 2 abgebrochen",
        "Quereinstieg 2 Teilnehmende",
        "Im Ausbildungsjahr 2",
        "Zur Stufe 2",
        "Straße des 17. Juni",
        "15000 Euro Förderung",
        "über 10000 Anträge",
        "Kurs-Jahrgang 2024",
        "Arbeitsmarkt 2025",
        "10000 Euro",
        "12345 Teilnehmende",
        "Modul 3 Stufe B1",
        "no e-mail given, at home",
    ],
)
def test_ordinary_text_is_no_personal_data(text: str) -> None:
    assert kinds(text) == []


def test_a_text_with_several_kinds_lists_each_in_order() -> None:
    text = "Max, Hauptstraße 12, 44135 Dortmund, max@example.org, 0176 1234567"
    assert kinds(text) == [STREET_ADDRESS, STREET_ADDRESS, EMAIL, PHONE]


def test_the_birth_date_rule_follows_the_calendar() -> None:
    # Fourteen years back is where no programme event lies, and every birth date does.
    assert kinds("12.03.2010") == [BIRTH_DATE]
    assert kinds("12.03.2020") == []
    assert kinds("31.02.1980") == []  # no such day
    assert find_pii("12.03.2020", dt.date(2040, 1, 1))[0].kind == BIRTH_DATE


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89 3704 0044 0532 0130 00", True),
        ("de89370400440532013000", True),
        ("GB82 WEST 1234 5698 7654 32", True),
        ("NL91ABNA0417164300", True),
        ("DE89 3704 0044 0532 0130 01", False),
        ("DE88 3704 0044 0532 0130 00", False),
        ("DE89 3704 0044 0532 0130 0", False),  # a German IBAN has 22 characters
        ("XX00", False),
    ],
)
def test_iban_checksum(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


def test_masking_keeps_only_enough_to_find_the_value() -> None:
    assert mask("+49 176 1234567") == "+49 1** *****67"
    assert mask("max@example.org") == "max@*******.*rg"
    assert mask("12.03.1987") == "12.**.**87"
    assert "1234567" not in mask("0176 1234567")


# ------------------------------------------------------------------ the gate on events


def event(event_type: str, **data: Any) -> Any:
    raw = valid_example(event_type)
    raw["data"].update(data)
    return validate(raw)


def test_free_text_fields_come_from_the_catalogue_types() -> None:
    fields = {t: free_text_fields(model) for t, model in EVENT_TYPES.items()}
    assert fields["participant.enrolled"] == ("data.programme",)
    assert fields["event.retracted"] == ("data.reason",)
    assert fields["privacy.erasure_requested"] == ("data.reason",)
    # enums, ids, slugs, pseudonyms, key ids and ciphertext are not free text
    for kind in ("referral.declined", "participant.contact_recorded", "privacy.key_destroyed"):
        assert fields[kind] == ()


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
def test_a_valid_ordinary_event_has_no_problem(event_type: str) -> None:
    assert pii_problems(validate(valid_example(event_type))) == []


def test_every_demo_event_passes_the_gate() -> None:
    assert [p for e in demo_history() for p in pii_problems(e)] == []


@pytest.mark.parametrize(
    ("event_type", "data", "field", "reason"),
    [
        (
            "event.retracted",
            {"reason": "rief an: +49 176 1234567"},
            "data.reason",
            "a phone number",
        ),
        ("privacy.erasure_requested", {"reason": "an x@y.de"}, "data.reason", "an e-mail address"),
        (
            "participant.enrolled",
            {"programme": "Lindenweg 7"},
            "data.programme",
            "a street address",
        ),
        ("event.retracted", {"reason": "geb. 01.02.2003"}, "data.reason", "a birth date"),
        ("event.retracted", {"reason": "DE89370400440532013000"}, "data.reason", "an IBAN"),
    ],
)
def test_the_gate_names_the_field_and_the_kind(
    event_type: str, data: dict[str, str], field: str, reason: str
) -> None:
    (problem,) = pii_problems(event(event_type, **data))
    assert problem.field == field
    assert f"holds what looks like {reason}" in problem.reason
    assert problem.reason.endswith("free text must not carry personal data")


def test_one_problem_per_field_lists_every_kind() -> None:
    (problem,) = pii_problems(event("event.retracted", reason="x@y.de, 0176 1234567"))
    assert "an e-mail address and what looks like a phone number" in problem.reason


# ------------------------------------------------------------------ the scan of one record


def record(value: bytes | None, key: bytes | None = b"p-7f3a9c2e41") -> Record:
    return Record(partition=2, offset=41, key=key, value=value)


def test_a_clean_record_has_no_finding() -> None:
    for event_type in EXAMPLE_TYPES:
        findings, undecodable = scan_record(record(encode(validate(valid_example(event_type)))))
        assert (findings, undecodable) == ([], False), event_type


def test_the_scan_finds_what_bypassed_the_door() -> None:
    raw = valid_example("event.retracted")
    raw["data"]["reason"] = "rief an: +49 176 1234567"
    ((finding,), _) = scan_record(record(json.dumps(raw).encode()))
    assert (finding.offset, finding.field, finding.kind) == (41, "data.reason", PHONE)
    assert finding.event_id == raw["event_id"]
    assert finding.masked == "+49 1** *****67"


def test_clear_contact_details_are_found_by_shape_and_by_key() -> None:
    raw = valid_example("participant.contact_recorded")
    raw["data"] = {"contact": {"name": "Ayşe Yılmaz", "phone": "0176 1234567"}}
    findings, _ = scan_record(record(json.dumps(raw).encode()))
    seen = {(f.field, f.kind) for f in findings}
    assert ("data", CLEAR_CONTACT) in seen
    assert ("data.contact.name", CLEAR_CONTACT) in seen
    assert ("data.contact.phone", PHONE) in seen
    assert all("1234567" not in f.masked and "Yılmaz" not in f.masked for f in findings)


def test_undecodable_bytes_and_keys_are_scanned_as_text() -> None:
    findings, undecodable = scan_record(record(b"\xff not json: 0176 1234567", key=b"a@b.de"))
    assert undecodable
    assert [(f.field, f.kind) for f in findings] == [("key", EMAIL), ("value", PHONE)]


def test_dates_in_a_record_are_judged_as_of_the_day_it_was_written() -> None:
    raw = valid_example("event.retracted")
    raw["data"]["reason"] = "start date 01.03.2011 entered wrongly"
    value = json.dumps(raw).encode()
    written_2025 = int(dt.datetime(2025, 3, 3, tzinfo=dt.UTC).timestamp() * 1000)
    on_the_day = Record(partition=0, offset=7, key=None, value=value, timestamp_ms=written_2025)
    assert scan_record(on_the_day)[0] == []  # fourteen years before 2025: no birth date yet
    (late,), _ = scan_record(Record(partition=0, offset=7, key=None, value=value))
    assert late.kind == BIRTH_DATE  # without a timestamp, judged as of today
