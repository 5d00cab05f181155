"""A participant's erasure request: recorded on the log once, then restriction or shredding.

The request is a `privacy.erasure_requested` by the network (its id fixed per
participant, so asking twice records it once). From the moment it is projected
no view shows the person's contact details; counts and anonymous facts stay.
If no retention duty runs for the participant's programme, the data key is
destroyed at once (`shred.py`); otherwise processing stays restricted until the
duty ends and `refnet privacy shred-due` destroys the key.

The reason is free text on the log: the gateway's PII gate refuses one that
names the person, so write why (`Antrag nach Art. 17 DSGVO vom 2026-11-30`),
never who.

    RefNetError              (refnet.events.errors)
    └── ParticipantUnknown   no event names the participant: there is nothing to erase
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from refnet.events.errors import RefNetError
from refnet.events.settings import Settings
from refnet.projections.audit.reads import stored_state
from refnet.projections.store.database import Conn
from refnet.services.gateway.ingest import Gateway
from refnet.services.privacy.network import network_event, network_event_id, record_once
from refnet.services.privacy.retention import Retention, participant_retention
from refnet.services.privacy.shred import Shredded, destruction_reason, shred
from refnet.services.registry.data_keys import PostgresDataKeyStore


class ParticipantUnknown(RefNetError):
    """No event about the participant is in the read model."""


def erasure_event_id(participant_id: str) -> str:
    """The one event id of a participant's erasure request."""
    return network_event_id("erasure_requested", participant_id)


@dataclass(frozen=True)
class ErasureOutcome:
    """What an erasure request did, and what happens next."""

    participant_id: str
    event_id: str
    recorded: bool  # False: the request was already on the log
    retention: Retention
    restricted: bool  # a duty runs: contact details hidden, key kept until it ends
    shredded: Shredded | None  # the key destruction, when no duty runs

    def next_step(self) -> str:
        if self.restricted:
            assert self.retention.until is not None
            return (
                f"processing is restricted: no view shows the contact details; the "
                f"retention duty of {self.retention.programme!r} runs until "
                f"{self.retention.until.isoformat()}, and `refnet privacy shred-due` destroys "
                f"the data key from {self.retention.destroy_from}"
            )
        assert self.shredded is not None
        return (
            f"no retention duty runs: data key {self.shredded.key_id} was destroyed, and "
            "what it sealed is unreadable everywhere; counts and anonymous facts stay"
        )


async def request_erasure(
    conn: Conn,
    gateway: Gateway,
    keys: PostgresDataKeyStore,
    settings: Settings,
    participant_id: str,
    reason: str,
    now: dt.datetime,
) -> ErasureOutcome:
    """Record the erasure request; destroy the key now unless a retention duty runs."""
    state = await stored_state(conn, participant_id)
    if state is None:
        raise ParticipantUnknown(f"participant_id: no event names {participant_id!r}")
    event_id = erasure_event_id(participant_id)
    event = network_event(
        event_id, "privacy.erasure_requested", participant_id, {"reason": reason}, now
    )
    recorded = await record_once(gateway, conn, event)
    retention = participant_retention(state, settings.retention_last_payment)
    if retention.runs_on(now.date()):
        return ErasureOutcome(participant_id, event_id, recorded, retention, True, None)
    why = destruction_reason(retention)
    shredded = await shred(conn, gateway, keys, participant_id, why, now)
    return ErasureOutcome(participant_id, event_id, recorded, retention, False, shredded)
