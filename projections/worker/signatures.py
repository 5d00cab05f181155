"""Checking every event's Ed25519 signature against the registered keys.

An event is accepted when a key of the partner it names, or a gateway key,
verifies it, and that key was not retired before the event was recorded. When
no such key verifies, the other partners' keys are tried only to say why: an
event signed with another partner's key is a forgery, and is reported as one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from refnet.events.catalogue import EventModel
from refnet.events.fields import format_utc
from refnet.events.signing import (
    KeyUnusable,
    b64url,
    load_public,
    parse_public_key,
    signing_bytes,
    verify_signature,
)
from refnet.projections.store.database import Conn

# Reasons that a key registered since the ring was loaded could overturn.
_KEY_REASONS = ("bad signature", "forged", "retired key")

_LOAD_KEYS = """
SELECT key_id, signer, partner_id, public_key, registered_at, retired_at
FROM signing_keys ORDER BY registered_at, key_id
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


async def key_documents(conn: Conn) -> list[dict[str, Any]]:
    """Every registered key in a portable JSON form, public keys in base64url.

    This is what an archive carries, so its signatures can be checked in years
    without the database: `KeyRing.from_documents` reads it back.
    """
    return [
        {
            "key_id": r["key_id"],
            "signer": r["signer"],
            "partner_id": r["partner_id"],
            "public_key": b64url(bytes(r["public_key"])),
            "registered_at": format_utc(r["registered_at"]),
            "retired_at": format_utc(r["retired_at"]) if r["retired_at"] else None,
        }
        for r in await conn.fetch(_LOAD_KEYS)
    ]


def _from_document(document: Mapping[str, Any]) -> RegisteredKey:
    retired = document.get("retired_at")
    return RegisteredKey(
        str(document["key_id"]),
        str(document["signer"]),
        document.get("partner_id"),
        load_public(parse_public_key(str(document["public_key"]))),
        datetime.fromisoformat(retired) if retired else None,
    )


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
        # The portable form it was read from, if any: lets other processes rebuild the ring.
        self.documents: list[dict[str, Any]] | None = None

    @classmethod
    async def load(cls, conn: Conn) -> KeyRing:
        return cls.from_documents(await key_documents(conn))

    @classmethod
    def from_documents(cls, documents: Sequence[Mapping[str, Any]]) -> KeyRing:
        """A ring from the portable form of `key_documents` (as archives keep it)."""
        try:
            ring = cls([_from_document(d) for d in documents])
        except (KeyError, TypeError, ValueError, KeyUnusable) as exc:
            raise KeyUnusable(f"key list: {exc}") from exc
        ring.documents = [dict(d) for d in documents]
        return ring

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
