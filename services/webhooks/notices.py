"""Which notice each partner is owed, and what it says: ids and types, no personal data.

    referral.received   to the receiving partner: a referral.sent now in its inbox
    referral.answered   to the sending partner: its referral accepted or declined
    event.rejected      to the emitting partner: its event broke a rule, or was parked

A notice is owed only for what the projection did, so the worker asks the read model
(after the projection applied the record): a forged referral is parked, never "received".
Its webhook id is derived from the record, the same whenever the log is read again.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from refnet.events.catalogue import EventModel
from refnet.projections.worker.metrics import reason_class

_IDS = uuid.UUID("6f1c1f52-8a55-4d0c-9a59-2c6b8f4b3a10")  # the namespace of webhook ids


@dataclass(frozen=True)
class Notice:
    partner_id: str
    webhook_id: str
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Applied:
    """What the read model says of one event, once the projection applied it."""

    rejected: bool = False
    referral_from: str | None = None
    """The referral's sender, when the event is a referral row the projection holds."""
    referral_to: str | None = None
    referral_state: str | None = None


def webhook_id(source: str, notice_type: str) -> str:
    return f"msg_{uuid.uuid5(_IDS, f'{source}/{notice_type}').hex}"


def _notice(partner: str, source: str, kind: str, at: dt.datetime, data: dict[str, Any]) -> Notice:
    # The Standard Webhooks payload shape: type, timestamp, data.
    payload = {"type": kind, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}
    return Notice(partner, webhook_id(source, kind), kind, payload)


def for_event(event: EventModel, applied: Applied) -> list[Notice]:
    """The notices `event` gives rise to, judged by what the projection made of it."""
    source, at = str(event.event_id), event.occurred_at
    ids = {"event_id": source, "event_type": event.type}
    if applied.rejected:
        return [_notice(event.partner_id, source, "event.rejected", at, ids | {"by": "rules"})]
    data: dict[str, Any] = event.data.model_dump(mode="json") if event.data is not None else {}
    referral = data.get("referral_id")
    to_partner = data.get("to_partner")
    held = applied.referral_from == event.partner_id and applied.referral_to == to_partner
    if event.type == "referral.sent" and held:
        body = ids | {"referral_id": referral, "from_partner": event.partner_id}
        return [_notice(data["to_partner"], source, "referral.received", at, body)]
    answered = event.type in ("referral.accepted", "referral.declined")
    if answered and applied.referral_from and applied.referral_state != "pending":
        body = ids | {"referral_id": referral, "answer": event.type.removeprefix("referral.")}
        body["answered_by"] = event.partner_id
        return [_notice(applied.referral_from, source, "referral.answered", at, body)]
    return []


def for_dead_letter(value: bytes, headers: dict[str, bytes], at: dt.datetime) -> list[Notice]:
    """A parked record's notice to the partner it names (none if it names no one)."""
    source = headers.get("refnet-source", b"").decode(errors="replace")
    reason = reason_class(headers.get("refnet-reason", b"").decode(errors="replace"))
    try:
        raw = json.loads(value)
    except ValueError:
        return []
    partner = raw.get("partner_id") if isinstance(raw, dict) else None
    if not isinstance(partner, str) or not source:
        return []
    data = {
        "event_id": str(raw.get("event_id")) if raw.get("event_id") else None,
        "event_type": raw.get("type") if isinstance(raw.get("type"), str) else None,
        "by": "dead-letter",
        "reason": reason,
    }
    return [_notice(partner, f"dead/{source}", "event.rejected", at, data)]
