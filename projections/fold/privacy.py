"""A participant's privacy rows from the facts that count: contact reference, consents, erasure.

Pure, like the rest of the fold. The contact row is a reference to ciphertext
(the worker holds no key and never decrypts); consents are the standing
statement per (purpose, recipient); "latest" is the last in "first" order
(occurred_at, ties by log order), so a later event decides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from refnet.events.vocabulary import ConsentPurpose
from refnet.projections.fold.facts import CONSENTS, CONTACT, ENROLLED, ERASURE, KEY_DESTROYED, Fact
from refnet.projections.fold.rows import ConsentRow, ContactRow

SHARE_CASE_DATA = ConsentPurpose.SHARE_CASE_DATA.value
GIVEN = "consent.given"


def contact_row(pid: str, by_type: Mapping[str, list[Fact]]) -> ContactRow | None:
    """The latest live `participant.contact_recorded`, as a ciphertext reference."""
    recorded = by_type.get(CONTACT)
    if not recorded:
        return None
    latest = recorded[-1]
    sealed = latest.data["sealed"]
    return ContactRow(
        participant_id=pid,
        event_id=latest.event_id,
        partner_id=latest.partner_id,
        occurred_at=latest.occurred_at,
        recorded_at=latest.recorded_at,
        key_id=sealed["key_id"],
        sealed=json.dumps(sealed, sort_keys=True, separators=(",", ":")),
    )


def consent_rows(pid: str, by_type: Mapping[str, list[Fact]]) -> list[ConsentRow]:
    """The standing consent per (purpose, recipient); the lists are in "first" order.

    Each live enrolment states `share_case_data` for the whole network (its
    `consent_to_share`) at its own occurred_at, in the same order as the consent
    events: a later consent event for that purpose and the network decides instead.
    """
    statements = [f for t in (ENROLLED, *CONSENTS) for f in by_type.get(t, ())]
    if not statements:
        return []
    standing: dict[tuple[str, str | None], ConsentRow] = {}
    for fact in sorted(statements, key=lambda f: f.order):
        if fact.type == ENROLLED:
            key, given = (SHARE_CASE_DATA, None), bool(fact.data["consent_to_share"])
        else:
            key = (fact.data["purpose"], fact.data.get("recipient"))
            given = fact.type == GIVEN
        standing[key] = ConsentRow(
            participant_id=pid,
            purpose=key[0],
            recipient=key[1],
            given=given,
            since=fact.occurred_at,
        )
    return [standing[k] for k in sorted(standing, key=lambda k: (k[0], k[1] or ""))]


def erasure_requested_at(by_type: Mapping[str, list[Fact]]) -> str | None:
    """When the first live erasure request occurred: processing is restricted from then on."""
    requests = by_type.get(ERASURE)
    return requests[0].occurred_at if requests else None


def key_destroyed_at(by_type: Mapping[str, list[Fact]]) -> str | None:
    """When the first key destruction occurred (`apply` lets no retraction undo one)."""
    destroyed = by_type.get(KEY_DESTROYED)
    return destroyed[0].occurred_at if destroyed else None
