"""Who may see a participant's contact details: one decision, used by every view.

A partner P sees participant X's contact details only if P enrolled X (its own
intake), or P receives a live (pending or accepted) referral of X and X's
standing consent `pass_contact_details` covers P; and never once X asked for
erasure (processing is restricted) or X's data key was destroyed. Consent
covers P when, of the network-wide statement and the one naming P, the later
(by `since`) is a consent; at the same instant a withdrawal wins. So a
network-wide withdrawal ends a consent given to P before it, and a consent
given to P after a network-wide withdrawal stands. Declined and withdrawn
referrals give the receiver nothing: it no longer has a purpose for them.

The read model holds only ciphertext references; opening them is the API's
(`services/api/contacts.py`), after this decision allowed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from refnet.events.catalogue import SealedData
from refnet.events.vocabulary import ConsentPurpose
from refnet.projections.store.database import Conn

PASS_CONTACT = ConsentPurpose.PASS_CONTACT_DETAILS.value

WITHHELD = {
    "key_destroyed": "data key destroyed: the contact details can no longer be read",
    "erasure_requested": "erasure requested: processing restricted",
    "unrelated": "%(partner)s neither enrolled the participant nor receives a referral of them",
    "no_consent": "no consent to pass contact details to %(partner)s",
    "no_contact": "no contact details recorded",
    "unknown": "no record of this participant",
    # Decided where the details are opened (services/api/contacts.py).
    "staff_only": "contact details are shown only to the partner's own staff",
    "no_key_store": "contact details cannot be opened here: no key store is configured",
    "no_key": "the participant's data key is not available",
    "broken": "the contact details do not open (sealed under another key, or altered)",
}
"""Why contact details are withheld, by code; `%(partner)s` is the partner that reads."""


@dataclass(frozen=True, slots=True)
class Withheld:
    """Why a view shows no contact details: a code of WITHHELD and the reading partner."""

    code: str
    partner: str | None = None

    def __str__(self) -> str:
        return WITHHELD[self.code] % {"partner": self.partner}


_ACCESS = """
SELECT p.participant_id, p.erasure_requested_at, p.key_destroyed_at,
  EXISTS (SELECT 1 FROM partner_links l WHERE l.participant_id = p.participant_id
          AND l.partner_id = $2 AND l.role = 'enrolled') AS enrolled_by,
  EXISTS (SELECT 1 FROM referrals r WHERE r.participant_id = p.participant_id
          AND r.to_partner = $2 AND r.state IN ('pending', 'accepted')) AS receiving,
  c.event_id, c.partner_id AS recorded_by, c.sealed
FROM participants p LEFT JOIN contacts c USING (participant_id)
WHERE p.participant_id = ANY($1::text[])
"""
_CONSENTS = """
SELECT participant_id, recipient, given, since FROM consents
WHERE participant_id = ANY($1::text[]) AND purpose = $3 AND (recipient IS NULL OR recipient = $2)
"""


@dataclass(frozen=True, slots=True)
class Consent:
    """One standing statement of `pass_contact_details`; recipient None: the whole network."""

    recipient: str | None
    given: bool
    since: datetime


@dataclass(frozen=True, slots=True)
class SealedContact:
    """A ciphertext reference: what `open_contact` needs besides the key."""

    participant_id: str
    event_id: str
    partner_id: str  # who recorded it: bound into the ciphertext
    sealed: SealedData


@dataclass(frozen=True, slots=True)
class Standing:
    """What the decision looks at for one participant, as seen by one partner."""

    participant_id: str
    enrolled_by_partner: bool = False
    receives_referral: bool = False
    consents: Sequence[Consent] = field(default_factory=tuple)
    erasure_requested_at: datetime | None = None
    key_destroyed_at: datetime | None = None
    contact: SealedContact | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """The decision: the ciphertext to open, or why the details are withheld."""

    participant_id: str
    contact: SealedContact | None
    withheld: Withheld | None


def consent_covers(consents: Sequence[Consent], partner_id: str) -> bool:
    """Whether the standing `pass_contact_details` consent covers `partner_id`."""
    relevant = [c for c in consents if c.recipient in (None, partner_id)]
    if not relevant:
        return False
    # The latest decides; at the same instant a withdrawal (False) sorts last and wins.
    latest = max(relevant, key=lambda c: (c.since, not c.given))
    return latest.given


def decide(partner_id: str, standing: Standing) -> Access:
    """May `partner_id` see the participant's contact details? One rule for every view."""
    reason = _withheld(partner_id, standing)
    if reason is None and standing.contact is None:
        reason = Withheld("no_contact")
    if reason is not None:
        return Access(standing.participant_id, None, reason)
    return Access(standing.participant_id, standing.contact, None)


def _withheld(partner_id: str, standing: Standing) -> Withheld | None:
    if standing.key_destroyed_at is not None:
        return Withheld("key_destroyed")
    if standing.erasure_requested_at is not None:
        return Withheld("erasure_requested")
    if standing.enrolled_by_partner:
        return None
    if not standing.receives_referral:
        return Withheld("unrelated", partner_id)
    if not consent_covers(standing.consents, partner_id):
        return Withheld("no_consent", partner_id)
    return None


async def standings(conn: Conn, partner_id: str, participant_ids: Sequence[str]) -> list[Standing]:
    """What the decision needs for each participant that the read model knows."""
    ids = sorted(set(participant_ids))
    if not ids:
        return []
    rows = await conn.fetch(_ACCESS, ids, partner_id)
    consents: dict[str, list[Consent]] = {}
    for r in await conn.fetch(_CONSENTS, ids, partner_id, PASS_CONTACT):
        consents.setdefault(r["participant_id"], []).append(
            Consent(r["recipient"], r["given"], r["since"])
        )
    return [
        Standing(
            participant_id=r["participant_id"],
            enrolled_by_partner=r["enrolled_by"],
            receives_referral=r["receiving"],
            consents=tuple(consents.get(r["participant_id"], ())),
            erasure_requested_at=r["erasure_requested_at"],
            key_destroyed_at=r["key_destroyed_at"],
            contact=_sealed(r),
        )
        for r in rows
    ]


def _sealed(row: asyncpg.Record) -> SealedContact | None:
    if row["event_id"] is None:
        return None
    return SealedContact(
        participant_id=row["participant_id"],
        event_id=row["event_id"],
        partner_id=row["recorded_by"],
        sealed=SealedData.model_validate_json(row["sealed"]),
    )


async def contact_access(
    conn: Conn, partner_id: str, participant_ids: Sequence[str]
) -> dict[str, Access]:
    """The decision for each participant; one unknown to the read model is withheld."""
    known = await standings(conn, partner_id, participant_ids)
    found = {s.participant_id: decide(partner_id, s) for s in known}
    for pid in participant_ids:
        found.setdefault(pid, Access(pid, None, Withheld("unknown")))
    return found
