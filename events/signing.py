"""Ed25519 signatures over the canonical encoding: who published an event, provably.

The signed bytes are the event's canonical JSON without its `signature` field,
so the publisher id and the sequence number are signed too. A partner's own
client signs with the partner's key; the HTTP gateway signs with its own key,
attesting the partner its token proved. Keys are identified by the first 16 hex
digits of the SHA-256 of the raw public key, so no key id travels in events.

A batch is signed once, over a Merkle tree of its events (`events/merkle.py`):
each event's `signature` then holds that one signature and its inclusion proof.
An event signed alone keeps the plain form; readers accept both.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from refnet.events.catalogue import EventModel
from refnet.events.codec import canonical_json, to_canonical_dict
from refnet.events.errors import RefNetError
from refnet.events.merkle import DEFAULT_BATCH, batch_signatures, chunks, signed_message

INTEGRITY_FIELDS = ("publisher_id", "sequence", "signature")


class KeyUnusable(RefNetError):
    """A key file or a public key that cannot be used, and why."""


def signing_bytes(event: EventModel) -> bytes:
    """The bytes a signature covers: the canonical event without its signature."""
    body = to_canonical_dict(event)
    body.pop("signature", None)
    return canonical_json(body)


def key_id_of(public_key: bytes) -> str:
    """A short, stable name of a raw 32-byte public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_public_key(text: str) -> bytes:
    """A raw public key from base64url (as `refnet partners keys` prints it) or PEM."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise KeyUnusable("public key: not an Ed25519 key")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw = _unb64url(text.replace("+", "-").replace("/", "_"))
    except (ValueError, binascii.Error) as exc:
        raise KeyUnusable(f"public key: not base64url or PEM ({exc})") from exc
    if len(raw) != 32:
        raise KeyUnusable(f"public key: an Ed25519 key has 32 bytes, this one {len(raw)}")
    return raw


class SigningKey:
    """An Ed25519 private key, kept in a PEM file readable by its owner only."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise KeyUnusable(f"{path}: cannot read an Ed25519 private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyUnusable(f"{path}: not an Ed25519 private key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the key as PKCS#8 PEM with mode 0600; never overwrites a key."""
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)

    def sign(self, data: bytes) -> str:
        return b64url(self._private.sign(data))


def verify(event: EventModel, public_key: Ed25519PublicKey) -> bool:
    """True when `event.signature` is `public_key`'s signature of the event, plain or batch."""
    if event.signature is None:
        return False
    signature, data = signed_message(event.signature, signing_bytes(event))
    return data is not None and verify_signature(signature, data, public_key)


def verify_signature(signature: str, data: bytes, public_key: Ed25519PublicKey) -> bool:
    """True when `signature` (base64url) is `public_key`'s signature of `data`.

    For checking one event against several keys: encode it once, then try each.
    """
    try:
        public_key.verify(_unb64url(signature), data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def load_public(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


class SequenceSource(Protocol):
    def reserve(self, count: int) -> int:
        """Reserve `count` consecutive numbers; return the first."""
        ...

    def settle(self, first: int) -> None:
        """The reservation starting at `first` is accounted for: on the log, or reported unused."""
        ...

    def left_behind(self) -> list[tuple[int, int]]:
        """Open reservations of processes that are gone, as inclusive (first, last) spans."""
        ...


class CounterSequence:
    """Sequence numbers kept in memory, for tests and short-lived publishers."""

    def __init__(self, start: int = 0) -> None:
        self._next = start

    def reserve(self, count: int) -> int:
        first, self._next = self._next, self._next + count
        return first

    def settle(self, first: int) -> None:
        """Nothing is journalled in memory."""

    def left_behind(self) -> list[tuple[int, int]]:
        return []


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class FileSequence:
    """Sequence numbers kept in a small file beside the key, with a journal of reservations.

    A reservation is written (the file replaced atomically, under a lock) as
    open before any event carries its numbers, and closed once they are
    accounted for; a crash or an unreported failure leaves it open, so a later
    process can report the numbers unused. A crash leaves a gap, never a repeat.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._holder = f"{os.getpid()}-{os.urandom(4).hex()}"

    def reserve(self, count: int) -> int:
        with self._locked() as state:
            first = int(state["next"])
            state["next"] = first + count
            entry = {"first": first, "end": first + count, "pid": os.getpid()}
            state["open"].append(entry | {"holder": self._holder})
        return first

    def settle(self, first: int) -> None:
        with self._locked() as state:
            state["open"] = [e for e in state["open"] if e["first"] != first]

    def left_behind(self) -> list[tuple[int, int]]:
        if not self._path.exists():
            return []
        with self._locked() as state:
            return [
                (e["first"], e["end"] - 1)
                for e in state["open"]
                if e["holder"] != self._holder and _process_gone(e["pid"])
            ]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The file's state, written back atomically; an flock keeps processes apart."""
        lock_path = self._path.with_suffix(".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                tmp = self._path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state))
                tmp.replace(self._path)

    def _read(self) -> dict[str, Any]:
        if not self._path.exists():
            return {"next": 0, "open": []}
        try:
            state = json.loads(self._path.read_text())
            # A file written before reservations were journalled has no "open".
            return {"next": int(state["next"]), "open": [_entry(e) for e in state.get("open", [])]}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyUnusable(f"{self._path}: unreadable sequence file ({exc})") from exc


def _entry(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "first": int(raw["first"]),
        "end": int(raw["end"]),
        "pid": int(raw["pid"]),
        "holder": str(raw["holder"]),
    }


class Signer:
    """Stamps events with a publisher id and sequence numbers, and signs them."""

    def __init__(
        self,
        key: SigningKey,
        publisher_id: str,
        sequence: SequenceSource | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.key = key
        self.publisher_id = publisher_id
        self._sequence = sequence
        chunks(1, batch_size)  # refuses a size no proof can name
        self.batch_size = batch_size  # events per batch signature: the proof grows with its log

    def reserve(self, count: int) -> int:
        """Reserve numbers from this signer's own source (the gateway keeps its own)."""
        if self._sequence is None:
            raise KeyUnusable(f"publisher {self.publisher_id} reserves its numbers elsewhere")
        return self._sequence.reserve(count)

    def settle(self, first: int) -> None:
        """The reservation starting at `first` is on the log or reported unused."""
        if self._sequence is not None:
            self._sequence.settle(first)

    def left_behind(self) -> list[tuple[int, int]]:
        """Reservations a gone process left open (never published, or never confirmed)."""
        return [] if self._sequence is None else self._sequence.left_behind()

    def encode_at(self, event: EventModel, sequence: int) -> bytes:
        """The canonical bytes of `event`, stamped with `sequence` and signed."""
        return self.encode_body(to_canonical_dict(event), sequence)

    def encode_body(self, body: dict[str, Any], sequence: int) -> bytes:
        """As `encode_at`, from an event's canonical dict (which it changes)."""
        body.pop("signature", None)
        body["publisher_id"] = self.publisher_id
        body["sequence"] = sequence
        body["signature"] = self.key.sign(canonical_json(body))
        return canonical_json(body)

    def encode_batch(self, bodies: Sequence[dict[str, Any]], numbers: Sequence[int]) -> list[bytes]:
        """As `encode_body` for many canonical dicts (changed), one signature per batch."""
        blobs = []
        for body, number in zip(bodies, numbers, strict=True):
            body.pop("signature", None)
            body["publisher_id"] = self.publisher_id
            body["sequence"] = number
            blobs.append(canonical_json(body))
        signatures = batch_signatures(self.key.sign, blobs, self.batch_size)
        encoded = []
        for body, signature in zip(bodies, signatures, strict=True):
            body["signature"] = signature
            encoded.append(canonical_json(body))
        return encoded

    def encode_many(self, events: Sequence[EventModel], numbers: Sequence[int]) -> list[bytes]:
        """The canonical bytes of `events`, stamped with `numbers` and batch-signed."""
        return self.encode_batch([to_canonical_dict(e) for e in events], numbers)

    def signed_at(self, event: EventModel, sequence: int) -> EventModel:
        """`event` as a model carrying its integrity fields (for callers that keep models)."""
        stamped = event.model_copy(
            update={"publisher_id": self.publisher_id, "sequence": sequence, "signature": None}
        )
        return stamped.model_copy(update={"signature": self.key.sign(signing_bytes(stamped))})

    def sign_all(self, events: Iterable[EventModel]) -> list[EventModel]:
        """`events` numbered from this signer's source and batch-signed, as models."""
        batch = list(events)
        first = self.reserve(len(batch))
        values = self.encode_many(batch, range(first, first + len(batch)))
        return [type(e).model_validate_json(v) for e, v in zip(batch, values, strict=True)]
