"""Batch signatures: one Ed25519 signature over a Merkle tree, a proof per event.

Signing every event alone costs an Ed25519 operation on each side. A batch is
signed once instead, the way transparency logs do (RFC 6962 / RFC 9162): each
event is a leaf, SHA-256(0x00 || signing bytes); inner nodes are
SHA-256(0x01 || left || right), in the RFC's tree shape for any size; the
publisher signs `BATCH_DOMAIN || root || size`. Each event carries the root's
signature, its leaf index, the tree size and its audit path, so it can still be
checked on its own, and an auditor can name the one event whose proof fails.

The text form fits the `signature` field beside the old 86-character one:

    b1.<root signature, base64url>.<leaf index>.<tree size>.<audit path, base64url>

where the path is the sibling hashes from the leaf upwards, concatenated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

BATCH_TAG = "b1"
BATCH_DOMAIN = b"refnet-batch/1"
MAX_BATCH = 4096
"""The largest tree a proof may name: its path is at most 12 hashes (512 characters)."""
DEFAULT_BATCH = 256
HASH_SIZE = 32

# The catalogue's `signature` pattern: the old form, or a batch proof.
SIGNATURE_PATTERN = (
    r"^(?:[A-Za-z0-9_-]{86}"
    r"|b1\.[A-Za-z0-9_-]{86}\.(?:0|[1-9][0-9]{0,3})\.[1-9][0-9]{0,3}\.[A-Za-z0-9_-]{0,512})$"
)

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def batch_message(root: bytes, size: int) -> bytes:
    """What the publisher signs: the size is bound too, since the proof's shape depends on it."""
    return BATCH_DOMAIN + root + size.to_bytes(8, "big")


def tree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last.

    Pairing neighbours level by level and carrying an odd last node up unhashed
    gives exactly RFC 6962's tree (left subtree the largest power of two).
    """
    if not leaves:
        raise ValueError("a batch holds at least one event")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def audit_path(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root (none where a node is carried up)."""
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: bytes) -> bytes | None:
    """The root that `path` (sibling hashes, concatenated) leads to from `leaf`, or None
    when the path cannot fit the tree (RFC 9162, 2.1.3.2). Hashing inline: this runs
    once for every batch-signed event read."""
    if not 0 <= index < size or len(path) % HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    for start in range(0, len(path), HASH_SIZE):
        if sn == 0:
            return None
        p = path[start : start + HASH_SIZE]
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _unb64(text: str) -> bytes:
    """base64url without padding; the catalogue's pattern already held it to the alphabet."""
    return binascii.a2b_base64(text.encode().translate(_FROM_URLSAFE) + b"=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class BatchProof:
    """One event's share of a batch signature."""

    root_signature: str  # base64url Ed25519 signature of `batch_message(root, size)`
    index: int
    size: int
    path: bytes  # the sibling hashes from the leaf up, concatenated

    def text(self) -> str:
        path = _b64(self.path)
        return f"{BATCH_TAG}.{self.root_signature}.{self.index}.{self.size}.{path}"

    def hashes(self) -> list[bytes]:
        return [self.path[n : n + HASH_SIZE] for n in range(0, len(self.path), HASH_SIZE)]

    def root(self, data: bytes) -> bytes | None:
        """The root this proof leads to from the event's signing bytes `data`."""
        return root_from_path(leaf_hash(data), self.index, self.size, self.path)


class ProofMalformed(ValueError):
    """A batch signature whose text cannot be a proof."""


def is_batch_signature(text: str) -> bool:
    return text.startswith(BATCH_TAG + ".")


def parse_proof(text: str) -> BatchProof:
    """The proof in a batch signature's text; ProofMalformed saying why it cannot be one."""
    return BatchProof(*_parts(text))


def _parts(text: str) -> tuple[str, int, int, bytes]:
    parts = text.split(".")
    if len(parts) != 5 or parts[0] != BATCH_TAG:
        raise ProofMalformed("not tag, signature, index, size and path")
    _tag, signature, index_text, size_text, path_text = parts
    try:
        index, size = int(index_text), int(size_text)
        path = _unb64(path_text)
    except (ValueError, binascii.Error) as exc:
        raise ProofMalformed(str(exc)) from exc
    if not 0 <= index < size <= MAX_BATCH:
        raise ProofMalformed(f"leaf {index} of a tree of {size}")
    if len(path) % HASH_SIZE:
        raise ProofMalformed(f"a path of {len(path)} bytes is not whole hashes")
    return signature, index, size, path


def proofs(leaves: Sequence[bytes], root_signature: str, levels: list[list[bytes]]) -> list[str]:
    """The signature text of every leaf of one signed tree."""
    size = len(leaves)
    return [
        BatchProof(root_signature, n, size, b"".join(audit_path(levels, n))).text()
        for n in range(size)
    ]


def chunks(count: int, batch_size: int) -> list[range]:
    """`count` items cut, in order, into batches of at most `batch_size`."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} events, not {batch_size}")
    return [range(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def signed_message(signature: str, data: bytes) -> tuple[str, bytes | None]:
    """The Ed25519 signature and the message it must verify for an event's `data`.

    Plain: the event's own bytes. Batch: the root its proof leads to, or None
    when the proof is malformed or cannot fit its tree.
    """
    if not is_batch_signature(signature):
        return signature, data
    try:
        root_signature, index, size, path = _parts(signature)
    except ProofMalformed:
        return signature, None
    root = root_from_path(leaf_hash(data), index, size, path)
    return root_signature, None if root is None else batch_message(root, size)


def batch_signatures(
    sign: Callable[[bytes], str], blobs: Sequence[bytes], batch_size: int
) -> list[str]:
    """The `signature` of each of `blobs` (signing bytes), one Ed25519 signature per batch.

    A batch of one gets the plain form: a proof would add bytes and save nothing.
    """
    signatures: list[str] = []
    for part in chunks(len(blobs), batch_size):
        if len(part) == 1:
            signatures.append(sign(blobs[part.start]))
            continue
        leaves = [leaf_hash(blobs[n]) for n in part]
        levels = tree_levels(leaves)
        root_signature = sign(batch_message(levels[-1][0], len(leaves)))
        signatures += proofs(leaves, root_signature, levels)
    return signatures
