"""An access request (GDPR Art. 15): everything the network holds about one person.

Answered from the log, not from the read model: every event keyed by the
participant, in log order, each with whether it counts (the same fold as
`refnet audit history`, signatures checked); contact details opened where the
data key still exists and marked `destroyed` where it was shredded; the consent
history; and every recorded read of their record. Written as `PID.json` (for
machines and for the record) and `PID.html` (German, for the person). The
export is itself a read of the record and is recorded as one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from refnet.events.catalogue import ContactRecorded, EventModel
from refnet.events.codec import decode, to_canonical_dict
from refnet.events.errors import EventInvalid, EventUndecodable
from refnet.events.sealing import DataKey, DataKeyStore, SealBroken, open_contact
from refnet.events.settings import Settings
from refnet.events.vocabulary import ConsentPurpose
from refnet.projections.audit.reads import recorded_reads
from refnet.projections.audit.replay import Replay
from refnet.projections.audit.timeline import timeline
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store.database import Conn
from refnet.projections.worker.log_reader import log_ends, read_log
from refnet.projections.worker.projector import Record
from refnet.projections.worker.signatures import KeyRing
from refnet.services.privacy.retention import participant_retention

TEMPLATES = Path(__file__).parent / "templates"
EXPORT_WHAT = "privacy export"
"""What an export is recorded as in the read log."""
_READ_PAGE = 1000
_CONSENT_TYPES = {"consent.given": True, "consent.withdrawn": False}
LABELS = {
    "status": {
        "counts": "zählt",
        "retracted": "zurückgenommen",
        "rejected": "abgewiesen (Regelverstoß)",
        "not_counted": "nicht gezählt (Signatur ungültig)",
        "not_an_event": "kein lesbares Ereignis",
    },
    "purpose": {
        "share_case_data": "Weitergabe der Falldaten im Netzwerk",
        "pass_contact_details": "Weitergabe der Kontaktdaten an die Stelle, an die vermittelt wird",
        "follow_up_contact": "Kontaktaufnahme zur Nachbefragung nach sechs Monaten",
    },
    "contact": {
        "name": "Name",
        "phone": "Telefon",
        "email": "E-Mail",
        "postal_address": "Anschrift",
        "preferred_language": "Bevorzugte Sprache",
    },
}
"""German labels of the HTML answer (the JSON keeps the codes)."""


def participant_records(
    settings: Settings, participant_id: str, on_progress: Callable[[int], None] | None = None
) -> list[Record]:
    """The participant's records of the log, in log order (they are keyed by participant)."""
    key = participant_id.encode()
    records = read_log(settings, log_ends(settings), on_progress=on_progress)
    return sorted((r for r in records if r.key == key), key=lambda r: (r.partition, r.offset))


def _decoded(record: Record) -> EventModel | None:
    try:
        return decode(record.value or b"")
    except (EventUndecodable, EventInvalid):
        return None


def _contact(event: ContactRecorded, key: DataKey | None) -> dict[str, Any]:
    """The sealed details opened, or why not: the key was destroyed, or the seal is broken."""
    if key is None:
        return {"state": "destroyed", "key_id": event.data.sealed.key_id}
    try:
        details = open_contact(
            key,
            event.data.sealed,
            event_id=str(event.event_id),
            participant_id=event.participant_id,
            partner_id=event.partner_id,
        )
    except SealBroken:
        return {"state": "unreadable", "key_id": event.data.sealed.key_id}
    return {"state": "open", "details": details.model_dump(exclude_none=True)}


def _consents(events: Iterable[tuple[EventModel, str]]) -> list[dict[str, Any]]:
    """Every statement of consent, in log order: consent events and each enrolment's
    `consent_to_share` (sharing case data within the network, as the fold reads it)."""
    history: list[dict[str, Any]] = []
    for event, status in events:
        body: dict[str, Any] = {
            "event_id": str(event.event_id),
            "occurred_at": event.occurred_at.isoformat(),
            "partner_id": event.partner_id,
            "status": status,
        }
        if event.type in _CONSENT_TYPES:
            data = event.data.model_dump(mode="json")
            history.append(body | data | {"given": _CONSENT_TYPES[event.type]})
        elif event.type == "participant.enrolled":
            purpose = ConsentPurpose.SHARE_CASE_DATA.value
            given = bool(event.data.model_dump().get("consent_to_share"))
            history.append(body | {"purpose": purpose, "recipient": None, "given": given})
    return history


async def access_report(
    conn: Conn,
    settings: Settings,
    keys: DataKeyStore,
    ring: KeyRing,
    participant_id: str,
    records: list[Record],
    now: dt.datetime,
) -> dict[str, Any]:
    """The whole answer to the access request, as JSON-ready values."""
    replay = Replay(ring)
    replay.feed(records)
    state = replay.states.get(participant_id) or ParticipantState(participant_id)
    rejected = [r for r in replay.rejections if r.participant_id == participant_id]
    status = {e.event_id: e.status for e in timeline(state, rejected).events}
    key = await keys.existing(participant_id)
    events: list[dict[str, Any]] = []
    decoded: list[tuple[EventModel, str]] = []
    for record in records:
        event = _decoded(record)
        entry: dict[str, Any] = {"partition": record.partition, "offset": record.offset}
        if event is None:
            events.append(entry | {"status": "not_an_event"})
            continue
        verdict = status.get(str(event.event_id), "not_counted")  # e.g. a bad signature
        decoded.append((event, verdict))
        entry |= {"status": verdict, "event": to_canonical_dict(event)}
        if isinstance(event, ContactRecorded):
            entry["contact"] = _contact(event, key)
        events.append(entry)
    retention = participant_retention(state, settings.retention_last_payment)
    return {
        "participant_id": participant_id,
        "exported_at": now.isoformat(),
        "log": {"topic": settings.topic_events, "records": len(records)},
        "retention": {
            "programme": retention.programme,
            "until": retention.until.isoformat() if retention.until else None,
        },
        "data_key": "exists" if key is not None else "none_or_destroyed",
        "events": events,
        "consents": _consents(decoded),
        "reads": await _all_reads(conn, participant_id),
    }


async def _all_reads(conn: Conn, participant_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := await recorded_reads(conn, participant_id, limit=_READ_PAGE, offset=len(found)):
        found += [asdict(r) | {"read_at": r.read_at.isoformat()} for r in batch]
    return found


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_export(report: dict[str, Any], output: Path) -> tuple[Path, Path]:
    """Write `PID.json` and `PID.html` into `output` (made if missing); their paths."""
    output.mkdir(parents=True, exist_ok=True)
    pid = report["participant_id"]
    as_json, as_html = output / f"{pid}.json", output / f"{pid}.html"
    text = json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n"
    html = _environment().get_template("export.html").render(report=report, labels=LABELS)
    for path, content in ((as_json, text), (as_html, html)):
        path.touch(mode=0o600)  # clear contact details: readable by the operator only
        path.write_text(content, encoding="utf-8")
    return as_json, as_html
