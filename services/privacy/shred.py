"""Crypto-shredding: destroy a participant's data key, then record the destruction on the log.

`shred_due` destroys the key of every participant whose erasure was requested
and whose retention duty has ended (or never ran), and records each as
`privacy.key_destroyed` (the key's id and why, never what it sealed). It is
safe to run from cron: a key already destroyed is neither destroyed nor
recorded again.

Why destroy first and record second: the log is append-only, so a record
cannot be taken back. Recording first and then failing to destroy (a crash, a
database gone) would leave the log stating a destruction that never happened,
while the key lives on and, its participant now marked destroyed in the read
model, would never be picked up again. Destroying first and failing to record
leaves a key gone but unrecorded: the read model still shows the participant
as not shredded, so the next run picks them up, finds the key already destroyed
(`destroy` changes nothing the second time), reads its id from the registry and
makes the record then, under the same fixed event id, so a record that did reach
the log is not made twice. The worst case is a late record, never a false one,
and never a key that survives its erasure.

A participant for whom no key was ever made gets a tombstone key in the registry
(no key can be made for them afterwards), and its destruction is recorded like
any other: the log then shows the erasure as carried out, and `shred-due` stops
listing them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from refnet.events.settings import Settings
from refnet.events.vocabulary import KeyDestroyedReason
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store.database import Conn
from refnet.services.gateway.ingest import Gateway
from refnet.services.privacy.network import network_event, network_event_id, record_once
from refnet.services.privacy.retention import Retention, participant_retention
from refnet.services.registry.data_keys import PostgresDataKeyStore

# The read model's privacy columns come from the log: `key_destroyed_at` is set only
# once a `privacy.key_destroyed` is projected, so a destroyed but unrecorded key stays listed.
_ERASED = """
SELECT p.participant_id, s.facts::text AS facts
FROM participants p JOIN participant_state s USING (participant_id)
WHERE p.erasure_requested_at IS NOT NULL AND p.key_destroyed_at IS NULL
ORDER BY p.participant_id
"""
# The id of a key destroyed earlier (or of a tombstone), for recording it late.
_DESTROYED_KEY = """
SELECT key_id FROM data_keys WHERE participant_id = $1 AND destroyed_at IS NOT NULL
"""


@dataclass(frozen=True)
class Shredded:
    """One participant's key destruction: which key, why, and whether this run recorded it."""

    participant_id: str
    key_id: str | None  # None only in a dry run for a participant without a live key
    reason: KeyDestroyedReason
    recorded: bool  # a `privacy.key_destroyed` was published by this call


@dataclass(frozen=True)
class Restricted:
    """An erasure waiting for its retention duty to end: processing restricted meanwhile."""

    participant_id: str
    retention: Retention


@dataclass
class ShredReport:
    today: dt.date
    dry_run: bool
    shredded: list[Shredded] = field(default_factory=list)  # with dry_run: would be
    restricted: list[Restricted] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        return sum(1 for s in self.shredded if s.recorded)


def destruction_event_id(participant_id: str, key_id: str) -> str:
    """The one event id of destroying `key_id`: a second record of it is a duplicate."""
    return network_event_id("key_destroyed", participant_id, key_id)


def destruction_reason(retention: Retention) -> KeyDestroyedReason:
    return (
        KeyDestroyedReason.ERASURE
        if retention.until is None
        else KeyDestroyedReason.RETENTION_ENDED
    )


async def shred(
    conn: Conn,
    gateway: Gateway,
    keys: PostgresDataKeyStore,
    participant_id: str,
    reason: KeyDestroyedReason,
    now: dt.datetime,
) -> Shredded:
    """Destroy the participant's key, then record that on the log (see the module's why)."""
    key_id = await keys.destroy(participant_id, reason.value)
    if key_id is None:  # destroyed before (perhaps not recorded), or never made: a tombstone
        key_id = await conn.fetchval(_DESTROYED_KEY, participant_id)
        assert isinstance(key_id, str), f"no key row for {participant_id} after destroy"
    data = {"key_id": key_id, "reason": reason.value}
    event_id = destruction_event_id(participant_id, key_id)
    event = network_event(event_id, "privacy.key_destroyed", participant_id, data, now)
    recorded = await record_once(gateway, conn, event)
    return Shredded(participant_id, key_id, reason, recorded)


async def shred_due(
    conn: Conn,
    gateway: Gateway,
    keys: PostgresDataKeyStore,
    settings: Settings,
    today: dt.date,
    now: dt.datetime,
    dry_run: bool = False,
) -> ShredReport:
    """Destroy (or with `dry_run` only list) every key whose erasure is due on `today`."""
    report = ShredReport(today, dry_run)
    for row in await conn.fetch(_ERASED):
        pid = row["participant_id"]
        state = ParticipantState.from_json(pid, row["facts"])
        retention = participant_retention(state, settings.retention_last_payment)
        if retention.runs_on(today):
            report.restricted.append(Restricted(pid, retention))
            continue
        reason = destruction_reason(retention)
        if dry_run:
            existing = await keys.existing(pid)
            key_id = existing.key_id if existing is not None else None
            report.shredded.append(Shredded(pid, key_id, reason, recorded=False))
            continue
        report.shredded.append(await shred(conn, gateway, keys, pid, reason, now))
    return report
