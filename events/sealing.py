"""Sealing clear text into an event, per participant: AES-256-GCM, the event's ids bound in.

Each participant has one data key (`DataKey`, 32 random bytes). Destroying it
makes everything sealed under it unreadable wherever the log was copied:
backups, archives, old segments (crypto-shredding). The associated data binds
a ciphertext to its event (type, event id, participant, emitting partner), so a
ciphertext copied into another event does not open. Data keys are stored only
wrapped by the key-encryption key (`wrap_key`), behind `DataKeyStore`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError

from refnet.events.catalogue import ContactRecorded, ContactRecordedData, EventModel, SealedData
from refnet.events.codec import problems_of
from refnet.events.contact import ClearContactRecorded, ContactDetails
from refnet.events.errors import EventInvalid, Problem, RefNetError

KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"refnet-sealed/1"
_WRAP_PREFIX = b"refnet-data-key/1"
KEYS_AT_ONCE = 8  # a store's round trips that `seal_events` keeps in flight


class SealBroken(RefNetError):
    """A ciphertext did not open: another key, another event, or altered bytes."""


class KeyGone(RefNetError):
    """The participant's data key was destroyed: nothing can be sealed or opened for them."""


@dataclass(frozen=True, slots=True, repr=False)
class DataKey:
    """One participant's data key; `repr` never shows the secret."""

    key_id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"DataKey({self.key_id!r})"


def new_data_key() -> DataKey:
    return DataKey(secrets.token_urlsafe(12), secrets.token_bytes(KEY_BYTES))


def associated_data(event_type: str, event_id: str, participant_id: str, partner_id: str) -> bytes:
    """What a ciphertext is bound to: opening it in any other event fails."""
    parts = (_AAD_PREFIX, event_type, event_id, participant_id, partner_id)
    return b"\x00".join(p if isinstance(p, bytes) else p.encode() for p in parts)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: DataKey, clear: bytes, aad: bytes) -> SealedData:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, clear, aad)
    return SealedData(key_id=key.key_id, nonce=_b64(nonce), ciphertext=_b64(sealed))


def open_sealed(key: DataKey, sealed: SealedData, aad: bytes) -> bytes:
    """The clear text; SealBroken if `sealed` was not made with `key` for `aad`."""
    if sealed.key_id != key.key_id:
        raise SealBroken(f"sealed under key {sealed.key_id}, not {key.key_id}")
    try:
        return AESGCM(key.secret).decrypt(_unb64(sealed.nonce), _unb64(sealed.ciphertext), aad)
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("the ciphertext does not open in this event") from exc


def seal_contact(
    key: DataKey,
    details: ContactDetails,
    *,
    event_id: str,
    participant_id: str,
    partner_id: str,
) -> SealedData:
    """`details` sealed for the `participant.contact_recorded` event `event_id`."""
    clear = details.model_dump_json(exclude_none=True).encode()
    aad = associated_data("participant.contact_recorded", event_id, participant_id, partner_id)
    return seal(key, clear, aad)


def open_contact(
    key: DataKey,
    sealed: SealedData,
    *,
    event_id: str,
    participant_id: str,
    partner_id: str,
) -> ContactDetails:
    aad = associated_data("participant.contact_recorded", event_id, participant_id, partner_id)
    return ContactDetails.model_validate_json(open_sealed(key, sealed, aad))


# ------------------------------------------------------------------ wrapping


def kek_id(kek: bytes) -> str:
    """A short public name of a key-encryption key, to tell a wrong one at start."""
    return hashlib.sha256(b"refnet-kek-id/1" + kek).hexdigest()[:16]


def wrap_key(kek: bytes, participant_id: str, key: DataKey) -> bytes:
    """`key` encrypted under the key-encryption key, bound to its participant and id."""
    nonce = os.urandom(NONCE_BYTES)
    aad = b"\x00".join((_WRAP_PREFIX, participant_id.encode(), key.key_id.encode()))
    return nonce + AESGCM(kek).encrypt(nonce, key.secret, aad)


def unwrap_key(kek: bytes, participant_id: str, key_id: str, wrapped: bytes) -> DataKey:
    aad = b"\x00".join((_WRAP_PREFIX, participant_id.encode(), key_id.encode()))
    try:
        secret = AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise SealBroken(f"data key {key_id} does not unwrap with this key-encryption key") from exc
    return DataKey(key_id, secret)


class DataKeyStore(Protocol):
    """Where participants' data keys live, wrapped; PostgreSQL today, a KMS or Vault later."""

    async def key_for(self, participant_id: str) -> DataKey:
        """The participant's key, made on first use; KeyGone once it was destroyed."""
        ...

    async def existing(self, participant_id: str) -> DataKey | None:
        """The participant's key if it exists and was not destroyed; never makes one."""
        ...

    async def destroy(self, participant_id: str) -> str | None:
        """Destroy the participant's key for good; its id, or None if there was none."""
        ...


# ------------------------------------------------------------------ events at the door


def seal_event(key: DataKey, clear: ClearContactRecorded) -> ContactRecorded:
    """The catalogue's `ContactRecorded` for `clear`: its details sealed, everything else kept."""
    sealed = seal_contact(
        key,
        clear.data.contact,
        event_id=str(clear.event_id),
        participant_id=clear.participant_id,
        partner_id=clear.partner_id,
    )
    envelope = clear.model_dump(exclude={"type", "data"})
    return ContactRecorded(**envelope, data=ContactRecordedData(sealed=sealed))


async def seal_events(
    events: Iterable[EventModel | ClearContactRecorded], store: DataKeyStore
) -> list[EventModel]:
    """`events` in order, each clear contact event sealed under its participant's key.

    Each participant's key is asked for once; KeyGone for an erased participant.
    """
    batch = list(events)
    wanted = list(
        dict.fromkeys(e.participant_id for e in batch if isinstance(e, ClearContactRecorded))
    )
    gate = asyncio.Semaphore(KEYS_AT_ONCE)

    async def key_for(participant_id: str) -> DataKey:
        async with gate:
            return await store.key_for(participant_id)

    found = await asyncio.gather(*(key_for(p) for p in wanted))
    keys = dict(zip(wanted, found, strict=True))
    return [
        seal_event(keys[e.participant_id], e) if isinstance(e, ClearContactRecorded) else e
        for e in batch
    ]


def is_contact_item(raw: Mapping[str, Any]) -> bool:
    """Whether a JSON object is a `participant.contact_recorded` event (sealed or not)."""
    return raw.get("type") == "participant.contact_recorded"


def clear_contact(raw: Mapping[str, Any]) -> ClearContactRecorded:
    """A publisher's contact event with `data.contact` in clear; EventInvalid naming each field.

    A `data.sealed` is refused: the door that takes clear text seals it itself, so a
    publisher cannot put a ciphertext of its own making (or another event's) on the log.
    """
    data = raw.get("data")
    if isinstance(data, Mapping) and "sealed" in data:
        reason = "is sealed at the door; send the details in clear as data.contact"
        raise EventInvalid([Problem("data.sealed", reason)])
    try:
        return ClearContactRecorded.model_validate(dict(raw))
    except ValidationError as exc:
        raise EventInvalid(problems_of(exc)) from exc


def clear_digest(key: DataKey, body: bytes) -> bytes:
    """A digest of a clear body under the participant's key, to tell a repeated post.

    A plain hash of clear contact details would let anyone holding it confirm a guessed
    phone number, even after the key is destroyed; keyed by the data key, it cannot.
    """
    mac_key = hmac.new(key.secret, b"refnet-clear-digest/1", hashlib.sha256).digest()
    return hmac.new(mac_key, body, hashlib.sha256).digest()
