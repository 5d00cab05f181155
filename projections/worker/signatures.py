"""Checking every event's Ed25519 signature against the registered keys.

An event is accepted when a key of the partner it names, or a gateway key,
verifies it, and that key was not retired before the event was recorded. When
no such key verifies, the other partners' keys are tried only to say why: an
event signed with another partner's key is a forgery, and is reported as one.

A batch-signed event (`events/merkle.py`) is checked by recomputing its batch's
root from the event and its proof, then the root's signature. A root signature
that verified is remembered (a bounded LRU), so the other events of its batch
cost only hashing; a failure is never remembered, and an event whose own proof
does not lead to a remembered root gets no help from it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from refnet.events.catalogue import EventModel
from refnet.events.fields import format_utc
from refnet.events.merkle import is_batch_signature, signed_message
from refnet.events.signing import (
    KeyUnusable,
    b64url,
    load_public,
    parse_public_key,
    signing_bytes,
    verify_signature,
)
from refnet.projections.store.database import Conn

VERIFIED_ROOTS = 4096
"""Batch root signatures a ring remembers as verified: a few thousand batches in flight."""

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

    def __init__(self, keys: Sequence[RegisteredKey], verified_roots: int = VERIFIED_ROOTS) -> None:
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
        # (signed batch message, root signature) -> id of the key it verified under.
        self._roots: OrderedDict[tuple[bytes, str], str] = OrderedDict()
        self._roots_held = verified_roots
        self._roots_lock = threading.Lock()  # readers in threads may share a ring

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
        signature, data = signed_message(event.signature, signing_bytes(event))
        if data is None:
            return (
                f"bad signature: the batch proof of this event does not hold (partner "
                f"{event.partner_id})"
            )
        if is_batch_signature(event.signature):
            return self._judge(event, self._root_verifier(signature, data))
        return self._judge(event, lambda key: verify_signature(signature, data, key.public_key))

    def _root_verifier(self, signature: str, message: bytes) -> Callable[[RegisteredKey], bool]:
        """Whether a key verifies a batch root: from the remembered roots, or checked once."""
        with self._roots_lock:
            known = self._roots.get((message, signature))
            if known is not None:
                self._roots.move_to_end((message, signature))
        if known is not None:
            return lambda key: key.key_id == known

        def check(key: RegisteredKey) -> bool:
            if not verify_signature(signature, message, key.public_key):
                return False  # never remembered: the next event tries again
            with self._roots_lock:
                self._roots[(message, signature)] = key.key_id
                while len(self._roots) > self._roots_held:
                    self._roots.popitem(last=False)
            return True

        return check

    def _judge(self, event: EventModel, verifies: Callable[[RegisteredKey], bool]) -> str | None:
        """The verdict on an event, given which keys verify its signature."""
        retired: RegisteredKey | None = None
        for key in self._by_partner.get(event.partner_id, []) + self._gateway:
            if verifies(key):
                if key.valid_for(event):
                    return None
                retired = key
        if retired is not None:
            return (
                f"retired key: signed with {retired.owner}'s key {retired.key_id}, retired at "
                f"{retired.retired_at:%Y-%m-%dT%H:%M:%SZ}, for an event recorded after that"
            )
        for partner, keys in self._by_partner.items():
            if partner != event.partner_id and any(verifies(k) for k in keys):
                return f"forged: signed with {partner}'s key but names partner {event.partner_id}"
        return (
            f"bad signature: no registered key of {event.partner_id} or of the gateway "
            "verifies this event"
        )
