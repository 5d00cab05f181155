"""A participant's history as compact facts: what the fold keeps of each event.

A fact is one applied event reduced to JSON-ready values, with its log
position. Times are canonical UTC strings (fixed width), so comparing the
strings compares the instants, and `(occurred_at, position)` orders "first".
"""

from __future__ import annotations

from typing import Any, NamedTuple

from refnet.events.catalogue import EventModel
from refnet.events.fields import format_utc


class Position(NamedTuple):
    """Where an event sits in the log; offsets order events within a partition."""

    partition: int
    offset: int


class Fact(NamedTuple):
    event_id: str
    type: str
    partner_id: str
    site: str
    occurred_at: str
    recorded_at: str
    partition: int
    offset: int
    data: dict[str, Any]

    @property
    def order(self) -> tuple[str, int, int]:
        """Sort key for "first": earliest occurred_at, ties broken by log order."""
        return (self.occurred_at, self.partition, self.offset)


def fact_of(event: EventModel, position: Position) -> Fact:
    """Reduce a validated event to the fact the fold keeps."""
    return Fact(
        event_id=str(event.event_id),
        type=event.type,
        partner_id=event.partner_id,
        site=event.site,
        occurred_at=format_utc(event.occurred_at),
        recorded_at=format_utc(event.recorded_at),
        partition=position.partition,
        offset=position.offset,
        data=event.data.model_dump(mode="json"),
    )


def fact_from_json(row: list[Any]) -> Fact:
    """Rebuild a fact from its stored JSON list form."""
    return Fact(*row)


# Event types the rules look at.
RETRACTED = "event.retracted"
ENROLLED = "participant.enrolled"
SENT = "referral.sent"
ANSWERS = ("referral.accepted", "referral.declined")
STARTED = "training.started"
TRAINING_ENDS = ("training.completed", "training.discontinued")
CONTACT = "participant.contact_recorded"
CONSENTS = ("consent.given", "consent.withdrawn")
ERASURE = "privacy.erasure_requested"
KEY_DESTROYED = "privacy.key_destroyed"
NETWORK_ONLY = frozenset({ERASURE, KEY_DESTROYED})
"""Recorded only by the network itself (`partner_id` NETWORK), never by a partner."""
NEEDS_ENROLMENT = frozenset({SENT, STARTED, *TRAINING_ENDS, "participant.placed", CONTACT})
"""Consent events and erasure requests need none: a withdrawal must never be lost."""
