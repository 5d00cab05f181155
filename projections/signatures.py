"""Checking every event's Ed25519 signature against the registered keys.

An event is accepted when a key of the partner it names, or a gateway key,
verifies it, and that key was not retired before the event was recorded. When
no such key verifies, the other partners' keys are tried only to say why: an
event signed with another partner's key is a forgery, and is reported as one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from refnet.events.catalogue import EventModel
from refnet.events.signing import load_public, signing_bytes, verify_signature
from refnet.projections.database import Conn

# Reasons that a key registered since the ring was loaded could overturn.
_KEY_REASONS = ("bad signature", "forged", "retired key")

_LOAD_KEYS = """
SELECT key_id, signer, partner_id, public_key, retired_at FROM signing_keys ORDER BY registered_at
"""


def newer_keys_may_help(reason: str) -> bool:
    """Whether a reason from `KeyRing.problem` could change once the keys are reloaded."""
    return reason.startswith(_KEY_REASONS)


@dataclass(frozen=True)
class RegisteredKey:
    key_id: str
    signer: str  # 'partner' or 'gateway'
    partner_id: str | None
    public_key: Ed25519PublicKey
    retired_at: datetime | None

    def valid_for(self, event: EventModel) -> bool:
        """A retired key still vouches for what was recorded before its retirement."""
        return self.retired_at is None or event.recorded_at < self.retired_at

    @property
    def owner(self) -> str:
        return self.partner_id if self.partner_id is not None else "the gateway"


class KeyRing:
    """The registered public keys, grouped for the checks above."""

    def __init__(self, keys: Sequence[RegisteredKey]) -> None:
        self._by_partner: dict[str, list[RegisteredKey]] = {}
        self._gateway: list[RegisteredKey] = []
        for key in keys:
            if key.partner_id is None:
                self._gateway.append(key)
            else:
                self._by_partner.setdefault(key.partner_id, []).append(key)
        self.loaded_at = time.monotonic()

    @classmethod
    async def load(cls, conn: Conn) -> KeyRing:
        rows = await conn.fetch(_LOAD_KEYS)
        return cls(
            [
                RegisteredKey(
                    r["key_id"],
                    r["signer"],
                    r["partner_id"],
                    load_public(bytes(r["public_key"])),
                    r["retired_at"],
                )
                for r in rows
            ]
        )

    def __len__(self) -> int:
        return len(self._gateway) + sum(len(keys) for keys in self._by_partner.values())

    def problem(self, event: EventModel) -> str | None:
        """None when the event's signature holds; otherwise the reason it does not."""
        if event.signature is None or event.publisher_id is None or event.sequence is None:
            missing = [
                name
                for name in ("publisher_id", "sequence", "signature")
                if getattr(event, name) is None
            ]
            return f"unsigned: no {', '.join(missing)}"
        signature, data = event.signature, signing_bytes(event)  # encoded once for every key
        retired: RegisteredKey | None = None
        for key in self._by_partner.get(event.partner_id, []) + self._gateway:
            if verify_signature(signature, data, key.public_key):
                if key.valid_for(event):
                    return None
                retired = key
        if retired is not None:
            return (
                f"retired key: signed with {retired.owner}'s key {retired.key_id}, retired at "
                f"{retired.retired_at:%Y-%m-%dT%H:%M:%SZ}, for an event recorded after that"
            )
        for partner, keys in self._by_partner.items():
            forged_with = (verify_signature(signature, data, k.public_key) for k in keys)
            if partner != event.partner_id and any(forged_with):
                return f"forged: signed with {partner}'s key but names partner {event.partner_id}"
        return (
            f"bad signature: no registered key of {event.partner_id} or of the gateway "
            "verifies this event"
        )
