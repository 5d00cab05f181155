"""Batch signatures: the RFC 6962 tree, inclusion proofs, and the key ring's verdicts on them."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refnet.events import merkle, signing
from refnet.events.catalogue import EventModel
from refnet.events.codec import decode, validate
from refnet.events.errors import EventInvalid
from refnet.events.merkle import (
    BatchProof,
    ProofMalformed,
    audit_path,
    batch_message,
    leaf_hash,
    parse_proof,
    root_from_path,
    tree_levels,
)
from refnet.events.publisher import signed_batch
from refnet.events.signing import (
    CounterSequence,
    Signer,
    SigningKey,
    load_public,
    signing_bytes,
    verify,
)
from refnet.projections.worker import signatures
from refnet.projections.worker.signatures import KeyRing, RegisteredKey
from tests.unit.examples import valid_example

RETIRED_AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
AWO, BOBEQ, GATEWAY, OLD = (SigningKey.generate() for _ in range(4))


def ring(verified_roots: int = signatures.VERIFIED_ROOTS) -> KeyRing:
    def registered(
        key: SigningKey, partner: str | None, retired: dt.datetime | None
    ) -> RegisteredKey:
        signer = "gateway" if partner is None else "partner"
        return RegisteredKey(key.key_id, signer, partner, load_public(key.public_key), retired)

    keys = [
        registered(AWO, "awo-en", None),
        registered(BOBEQ, "bobeq", None),
        registered(GATEWAY, None, None),
        registered(OLD, "awo-en", RETIRED_AT),
    ]
    return KeyRing(keys, verified_roots)


def events(count: int, partner: str = "awo-en") -> list[EventModel]:
    base = valid_example("participant.enrolled") | {"partner_id": partner}
    return [validate(base | {"event_id": str(uuid.uuid4())}) for _ in range(count)]


def batch_signed(count: int, key: SigningKey = AWO, batch_size: int = 256) -> list[EventModel]:
    signer = Signer(key, "awo-en-cms", CounterSequence(), batch_size)
    return [decode(v) for v in signer.encode_many(events(count), range(count))]


def proof_of(event: EventModel) -> BatchProof:
    assert event.signature is not None
    return parse_proof(event.signature)


def with_proof(event: EventModel, proof: BatchProof) -> EventModel:
    return event.model_copy(update={"signature": proof.text()})


# ------------------------------------------------------------------ the tree


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962, 2.1, written as the RFC defines it."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << (len(leaves) - 1).bit_length() - 1
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH of RFC 6962, 2.1.1."""
    if len(leaves) == 1:
        return []
    k = 1 << (len(leaves) - 1).bit_length() - 1
    if index < k:
        return reference_path(index, leaves[:k]) + [reference_root(leaves[k:])]
    return reference_path(index - k, leaves[k:]) + [reference_root(leaves[:k])]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 600), st.data())
def test_the_tree_is_rfc_6962s_for_any_size(size: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
    levels = tree_levels(leaves)
    root = levels[-1][0]
    assert root == reference_root(leaves)
    index = data.draw(st.integers(0, size - 1))
    assert audit_path(levels, index) == reference_path(index, leaves)
    for n in range(size):
        path = audit_path(levels, n)
        assert root_from_path(leaves[n], n, size, b"".join(path)) == root
        assert len(path) <= (size - 1).bit_length()
    if size > 1:
        short = b"".join(audit_path(levels, index)[:-1])
        assert root_from_path(leaves[index], index, size, short) != root


def test_leaves_and_nodes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert batch_message(b"r" * 32, 3).startswith(b"refnet-batch/1")
    assert batch_message(b"r" * 32, 3) != batch_message(b"r" * 32, 4)


def test_a_malformed_proof_is_named() -> None:
    signature = "A" * 86
    for text, why in [
        (f"b1.{signature}.3.3.", "leaf 3 of a tree of 3"),
        (f"b1.{signature}.0.9999.", "tree of 9999"),
        (f"b1.{signature}.0.2.AAAA", "not whole hashes"),
        (f"b1.{signature}.0.2", "not tag"),
    ]:
        with pytest.raises(ProofMalformed, match=why):
            parse_proof(text)


# ------------------------------------------------------------------ verdicts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 600), st.sampled_from([7, 64, 256]), st.data())
def test_every_event_of_a_batch_verifies_and_any_change_is_refused(
    size: int, batch_size: int, data: st.DataObject
) -> None:
    keys = ring()
    signed = batch_signed(size, batch_size=batch_size)
    assert all(keys.problem(e) is None for e in signed)
    assert all(verify(e, load_public(AWO.public_key)) for e in signed)
    one = signed[data.draw(st.integers(0, size - 1), label="event")]
    assert keys.problem(one.model_copy(update={"site": "bochum"})) == bad(one)
    assert keys.problem(one.model_copy(update={"sequence": (one.sequence or 0) + 1})) == bad(one)
    if one.signature is None or not merkle.is_batch_signature(one.signature):
        return  # alone in its batch: the plain form, covered below
    proof = proof_of(one)
    other_index = data.draw(st.integers(0, proof.size - 1).filter(lambda n: n != proof.index))
    assert (keys.problem(with_proof(one, replace(proof, index=other_index))) or "").startswith(
        "bad signature"
    )
    assert (keys.problem(with_proof(one, replace(proof, size=proof.size + 1))) or "").startswith(
        "bad signature"
    )
    hashes = proof.hashes()
    level = data.draw(st.integers(0, len(hashes) - 1), label="level")
    hashes[level] = bytes([hashes[level][0] ^ 1]) + hashes[level][1:]
    path = b"".join(hashes)
    assert keys.problem(with_proof(one, replace(proof, path=path))) == bad(one)
    assert (keys.problem(with_proof(one, replace(proof, path=proof.path[:-32]))) or "").startswith(
        "bad signature"
    )
    longer = replace(proof, path=proof.path + bytes(32))
    assert (keys.problem(with_proof(one, longer)) or "").startswith("bad signature")
    root = proof.root(signing_bytes(one))
    assert root is not None
    by_bobeq = BOBEQ.sign(batch_message(root, proof.size))
    assert keys.problem(with_proof(one, replace(proof, root_signature=by_bobeq))) == (
        "forged: signed with bobeq's key but names partner awo-en"
    )
    by_stranger = SigningKey.generate().sign(batch_message(root, proof.size))
    assert keys.problem(with_proof(one, replace(proof, root_signature=by_stranger))) == bad(one)
    assert keys.problem(one) is None  # the refusals above left the batch's verdict alone


def bad(event: EventModel) -> str:
    return (
        f"bad signature: no registered key of {event.partner_id} or of the gateway "
        "verifies this event"
    )


def test_old_single_signatures_still_verify() -> None:
    keys = ring()
    signer = Signer(AWO, "awo-en-cms", CounterSequence())
    plain = [decode(signer.encode_at(e, n)) for n, e in enumerate(events(3))]
    assert all(e.signature is not None and len(e.signature) == 86 for e in plain)
    assert all(keys.problem(e) is None for e in plain)
    assert keys.problem(plain[0].model_copy(update={"site": "bochum"})) == bad(plain[0])
    one_by_one = batch_signed(5, batch_size=1)
    assert all(e.signature is not None and len(e.signature) == 86 for e in one_by_one)
    assert all(keys.problem(e) is None for e in one_by_one)


def test_gateway_and_retired_keys_sign_batches_too() -> None:
    keys = ring()
    assert all(keys.problem(e) is None for e in batch_signed(10, GATEWAY))
    by_old = batch_signed(10, OLD)  # recorded in 2025-03, after the key's retirement
    for event in by_old:
        assert (keys.problem(event) or "").startswith(
            f"retired key: signed with awo-en's key {OLD.key_id}"
        )
    early = RETIRED_AT - dt.timedelta(days=1)
    base = [e.model_copy(update={"recorded_at": early, "occurred_at": early}) for e in events(4)]
    signer = Signer(OLD, "awo-en-cms", CounterSequence())
    assert all(keys.problem(decode(v)) is None for v in signer.encode_many(base, range(4)))
    forged = [
        decode(v) for v in Signer(BOBEQ, "x", CounterSequence()).encode_many(events(3), range(3))
    ]
    assert all(
        keys.problem(e) == "forged: signed with bobeq's key but names partner awo-en"
        for e in forged
    )
    assert all(keys.problem(e) == bad(e) for e in batch_signed(3, SigningKey.generate()))


def test_a_cached_root_never_vouches_for_a_forged_event(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ring(verified_roots=2)
    calls: list[int] = []
    real = signing.verify_signature

    def counted(signature: str, data: bytes, public_key: Ed25519PublicKey) -> bool:
        calls.append(1)
        return real(signature, data, public_key)

    monkeypatch.setattr("refnet.projections.worker.signatures.verify_signature", counted)
    signed = batch_signed(40)
    assert keys.problem(signed[0]) is None
    first = len(calls)
    assert all(keys.problem(e) is None for e in signed[1:])
    assert len(calls) == first  # the rest of the batch cost hashing only
    altered = signed[5].model_copy(update={"participant_id": "p-0000000042"})
    assert keys.problem(altered) == bad(altered)
    moved = with_proof(signed[6], replace(proof_of(signed[6]), index=7))
    assert (keys.problem(moved) or "").startswith("bad signature")
    assert len(calls) > first  # refused after a real check each, and not remembered:
    assert keys.problem(altered) == bad(altered)
    # Someone else's batch whose root the ring has not seen is checked in full, and the
    # LRU holds at most its bound: the oldest root is checked again once it was dropped.
    for _ in range(2):
        assert all(keys.problem(e) is None for e in batch_signed(3))
    before = len(calls)
    assert keys.problem(signed[1]) is None
    assert len(calls) > before


def test_publishing_signs_each_partners_events_in_batches() -> None:
    signers = {
        "awo-en": Signer(AWO, "awo-en", CounterSequence(), batch_size=16),
        "bobeq": Signer(BOBEQ, "bobeq", CounterSequence(), batch_size=16),
    }
    mixed = [e for pair in zip(events(40), events(40, "bobeq"), strict=True) for e in pair]
    records, reserved = signed_batch(mixed, signers.__getitem__)
    assert [r.span for r in reserved] == [(0, 39), (0, 39)]
    decoded = [decode(value) for _key, value in records]
    assert [e.event_id for e in decoded] == [e.event_id for e in mixed]  # order kept
    assert [e.sequence for e in decoded if e.partner_id == "bobeq"] == list(range(40))
    keys = ring()
    assert all(keys.problem(e) is None for e in decoded)
    roots = {proof_of(e).root_signature for e in decoded}
    assert len(roots) == 2 * 3  # 40 events each in batches of 16: 16, 16, 8
    signed_models = signers["awo-en"].sign_all(events(3))
    assert all(keys.problem(e) is None for e in signed_models)


def test_the_catalogue_takes_both_forms_and_bounds_the_proof() -> None:
    event = batch_signed(300)[17]
    assert event.signature is not None and event.signature.startswith("b1.")
    body = valid_example("participant.enrolled") | {"publisher_id": "p", "sequence": 1}
    validate(body | {"signature": event.signature})
    for bad_text in ["b1." + "A" * 86 + ".0.2." + "A" * 600, "b2." + "A" * 86 + ".0.1.", "A" * 85]:
        with pytest.raises(EventInvalid, match="signature"):
            validate(body | {"signature": bad_text})
