"""The demo's contact details and consents: fictitious people, reachable only where they agreed.

Planned from the finished history with a random source of their own, so the
outcome history (its ids, its 413 participants and 148 placed) is exactly what
it was without them. The intake partner records, a few minutes after each
enrolment, most people's contact details (in clear here: `Publisher` seals them
under the participant's data key before signing) and their consent to pass
them on: most to every partner, some only to one partner, a few to none; a few
withdraw it later. Most also agree to the six-month follow-up contact.

Everything is fictitious: names are combined from common first and last names,
e-mail addresses are at example.org (RFC 2606), and every phone number lies in
a block the Bundesnetzagentur keeps free for film, television and fiction
(030 23125xxx, 040 66969xxx, 069 90009xxx, 089 99998xxx, 0221 4710xxx).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from refnet.events.catalogue import (
    ConsentData,
    ConsentGiven,
    ConsentWithdrawn,
    EventModel,
    ParticipantEnrolled,
    ReferralSent,
)
from refnet.events.contact import ClearContactData, ClearContactRecorded, ContactDetails
from refnet.events.vocabulary import ConsentPurpose
from refnet.services.demo.network import DEMO_PARTNERS, HISTORY_END, NAMESPACE

CONTACT_SHARE = 0.9
"""Share of participants whose contact details are recorded."""
CONSENT_WEIGHTS = {"network": 0.78, "one_partner": 0.12, "none": 0.10}
"""Consent to pass contact details: to every partner, only to one, or not at all."""
WITHDRAWAL_SHARE = 0.06
FOLLOW_UP_SHARE = 0.75

FICTION_BLOCKS = ("+49 30 23125", "+49 40 66969", "+49 69 90009", "+49 89 99998", "+49 221 4710")
"""Phone number blocks reserved for fiction; three more digits make a number."""
_FIRST = ("Amina", "Yusuf", "Olena", "Mehmet", "Fatima", "Dawit", "Leyla", "Omar", "Sara",
          "Bogdan", "Nour", "Hamid", "Elif", "Samir", "Mariam", "Tesfaye", "Daria", "Karim",
          "Zainab", "Ilya", "Aylin", "Jonas", "Hevin", "Rahel")  # fmt: skip
_LAST = ("Haddad", "Yilmaz", "Kovalenko", "Rahimi", "Tesfay", "Demir", "Schulte", "Nasser",
         "Petrenko", "Ahmadi", "Bekele", "Kaya", "Osman", "Hoffmann", "Mansour", "Sadeghi",
         "Aydin", "Berhane", "Ibrahim", "Lange")  # fmt: skip
_STREETS = ("Musterweg", "Beispielstraße", "Am Probehang", "Fiktivgasse", "Erdachte Allee")
_TOWNS = {
    "schwelm": "58332 Schwelm",
    "gevelsberg": "58285 Gevelsberg",
    "hattingen": "45525 Hattingen",
    "witten": "58452 Witten",
    "bochum": "44787 Bochum",
}
_LANGUAGES = {"de": 30, "ar": 20, "uk": 12, "tr": 10, "fa": 8, "prs": 6, "ti": 5, "ru": 5, "en": 4}
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})

PrivacyEvent = ClearContactRecorded | ConsentGiven | ConsentWithdrawn


@dataclass(frozen=True, slots=True)
class _Intake:
    enrolment: ParticipantEnrolled
    index: int  # the participant's number in intake order: makes phone and e-mail unique


def privacy_events(seed: int, history: Sequence[EventModel]) -> list[PrivacyEvent]:
    """Contact details and consents for the participants enrolled in `history`, planned apart.

    Only participants whose first enrolment stands get any: a retracted enrolment
    under a mistyped pseudonym is nobody's contact.
    """
    rng = random.Random(f"refnet-demo-privacy:{seed}")
    receivers = _receivers(history)
    made: list[PrivacyEvent] = []
    for intake in _intakes(history):
        made += _person(rng, seed, intake, receivers.get(intake.enrolment.participant_id, []))
    return made


def _intakes(history: Sequence[EventModel]) -> list[_Intake]:
    retracted = {
        str(e.data.retracted_event_id) for e in history if e.type == "event.retracted"
    }  # the demo retracts enrolments only as duplicates or mistyped pseudonyms
    first: dict[str, ParticipantEnrolled] = {}
    for event in history:
        if isinstance(event, ParticipantEnrolled) and str(event.event_id) not in retracted:
            first.setdefault(event.participant_id, event)
    ordered = sorted(first.values(), key=lambda e: (e.occurred_at, e.participant_id))
    return [_Intake(e, n) for n, e in enumerate(ordered)]


def _receivers(history: Sequence[EventModel]) -> dict[str, list[str]]:
    """Each participant's referral receivers, in log order."""
    found: dict[str, list[str]] = {}
    for event in history:
        if isinstance(event, ReferralSent):
            found.setdefault(event.participant_id, []).append(event.data.to_partner)
    return found


def _person(
    rng: random.Random, seed: int, intake: _Intake, receivers: list[str]
) -> list[PrivacyEvent]:
    enrolment = intake.enrolment
    pid = enrolment.participant_id
    counter = iter(range(10))

    def envelope(minutes: int, at: dt.datetime | None = None) -> dict[str, object]:
        occurred = (at or enrolment.occurred_at) + dt.timedelta(minutes=minutes)
        recorded = (at or enrolment.recorded_at) + dt.timedelta(minutes=minutes)
        return {
            "event_id": uuid.uuid5(NAMESPACE, f"{seed}:privacy:{pid}:{next(counter)}"),
            "partner_id": enrolment.partner_id,
            "site": enrolment.site,
            "participant_id": pid,
            "occurred_at": occurred,
            "recorded_at": recorded,
        }

    made: list[PrivacyEvent] = []
    if rng.random() < CONTACT_SHARE:
        data = ClearContactData(contact=_details(rng, intake.index, enrolment.site))
        made.append(ClearContactRecorded(**envelope(5), data=data))
    choice = rng.choices(list(CONSENT_WEIGHTS), weights=list(CONSENT_WEIGHTS.values()))[0]
    if choice != "none":
        recipient = None
        if choice == "one_partner":
            others = [p for p in DEMO_PARTNERS if p != enrolment.partner_id]
            recipient = receivers[0] if receivers else rng.choice(others)
        consent = ConsentData(purpose=ConsentPurpose.PASS_CONTACT_DETAILS, recipient=recipient)
        made.append(ConsentGiven(**envelope(2), data=consent))
        later = enrolment.occurred_at + dt.timedelta(days=rng.randint(20, 200))
        if rng.random() < WITHDRAWAL_SHARE and later.date() < HISTORY_END:
            made.append(ConsentWithdrawn(**envelope(0, later), data=consent))
    if rng.random() < FOLLOW_UP_SHARE:
        follow = ConsentData(purpose=ConsentPurpose.FOLLOW_UP_CONTACT)
        made.append(ConsentGiven(**envelope(3), data=follow))
    return made


def _details(rng: random.Random, index: int, site: str) -> ContactDetails:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    block = FICTION_BLOCKS[index % len(FICTION_BLOCKS)]
    number = index // len(FICTION_BLOCKS)  # at most 999 per block: ample for the demo
    street = f"{rng.choice(_STREETS)} {rng.randint(1, 120)}, {_TOWNS.get(site, '58332 Schwelm')}"
    language = rng.choices(list(_LANGUAGES), weights=list(_LANGUAGES.values()))[0]
    mail = f"{first}.{last}.{index}".lower().translate(_ASCII)
    return ContactDetails(
        name=f"{first} {last}",
        phone=f"{block}{number:03d}",
        email=f"{mail}@example.org",
        postal_address=street if rng.random() < 0.7 else None,
        preferred_language=language,
    )


def merged(
    history: Sequence[EventModel], extra: Iterable[PrivacyEvent]
) -> list[EventModel | PrivacyEvent]:
    """`extra` merged into `history` by recorded_at, the history's own order kept as it is.

    Each extra event goes just before the first history event recorded after it,
    so it follows the enrolment it belongs to (recorded minutes before it).
    """
    pending = sorted(extra, key=lambda e: e.recorded_at)
    out: list[EventModel | PrivacyEvent] = []
    n = 0
    for event in history:
        while n < len(pending) and pending[n].recorded_at < event.recorded_at:
            out.append(pending[n])
            n += 1
        out.append(event)
    out.extend(pending[n:])
    return out
