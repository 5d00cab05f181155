"""Spreadsheet import: contact details and consent cells, and what is never imported."""

from __future__ import annotations

import uuid
from pathlib import Path

from refnet.events.contact import ClearContactRecorded
from tests.unit.csv_files import enrolment, event_row, messages, read, valid, write

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
    row = event_row("privacy.erasure_requested", reason="asked for it")

    result = read(write(tmp_path / "erase.csv", [row]))

    assert messages(result) == [
        'line 2, column "type": privacy.erasure_requested is recorded by the network '
        "(`refnet privacy`), not imported"
    ]


def test_personal_data_in_free_text_is_refused_at_its_cell(tmp_path: Path) -> None:
    row = event_row(
        "event.retracted",
        retracted_event_id=str(uuid.uuid4()),
        reason="wrong person: call +49 176 1234567",
    )

    [message] = messages(read(write(tmp_path / "pii.csv", [row])))

    assert message.startswith('line 2, column "reason": holds what looks like a phone number')
