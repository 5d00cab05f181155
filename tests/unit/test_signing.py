"""Ed25519 signing and the key ring's verdicts, without a broker or database."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from refnet.events.catalogue import EventModel
from refnet.events.codec import decode, encode, validate
from refnet.events.keystore import LocalKeys
from refnet.events.signing import (
    CounterSequence,
    FileSequence,
    KeyUnusable,
    Signer,
    SigningKey,
    b64url,
    load_public,
    parse_public_key,
    signing_bytes,
    verify,
)
from refnet.projections.worker.signatures import KeyRing, RegisteredKey
from tests.unit.examples import valid_example


def enrolled_event() -> EventModel:
    return validate(valid_example("participant.enrolled") | {"partner_id": "awo-en"})


def ring_of(*keys: tuple[SigningKey, str | None, dt.datetime | None]) -> KeyRing:
    return KeyRing(
        [
            RegisteredKey(
                k.key_id,
                "gateway" if partner is None else "partner",
                partner,
                load_public(k.public_key),
                retired,
            )
            for k, partner, retired in keys
        ]
    )


def test_encode_at_and_signed_at_give_the_same_bytes() -> None:
    signer = Signer(SigningKey.generate(), "awo-en-cms", CounterSequence())
    event = enrolled_event()
    assert signer.encode_at(event, 41) == encode(signer.signed_at(event, 41))
    signed = decode(signer.encode_at(event, 41))
    assert (signed.publisher_id, signed.sequence) == ("awo-en-cms", 41)
    assert verify(signed, load_public(signer.key.public_key))


def test_the_signature_covers_every_field_but_itself() -> None:
    key = SigningKey.generate()
    signed = Signer(key, "awo-en", CounterSequence()).signed_at(enrolled_event(), 1)
    public = load_public(key.public_key)
    for change in ({"sequence": 2}, {"publisher_id": "bobeq"}, {"site": "bochum"}):
        assert not verify(signed.model_copy(update=change), public)
    assert not verify(signed, load_public(SigningKey.generate().public_key))
    assert b'"signature"' not in signing_bytes(signed)


def test_ring_verdicts() -> None:
    awo, bobeq, gateway = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    retired_at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    old = SigningKey.generate()
    ring = ring_of((awo, "awo-en", None), (bobeq, "bobeq", None), (gateway, None, None),
                   (old, "awo-en", retired_at))  # fmt: skip
    event = enrolled_event()  # names awo-en, recorded in 2024-03
    assert event.partner_id == "awo-en" and event.recorded_at > retired_at

    def by(key: SigningKey) -> str | None:
        return ring.problem(Signer(key, "p", CounterSequence()).signed_at(event, 0))

    assert by(awo) is None
    assert by(gateway) is None
    assert by(bobeq) == "forged: signed with bobeq's key but names partner awo-en"
    assert (by(old) or "").startswith(f"retired key: signed with awo-en's key {old.key_id}")
    assert (by(SigningKey.generate()) or "").startswith("bad signature")
    assert ring.problem(event) == "unsigned: no publisher_id, sequence, signature"
    early = event.model_copy(update={"recorded_at": retired_at - dt.timedelta(seconds=1)})
    assert ring.problem(Signer(old, "p", CounterSequence()).signed_at(early, 0)) is None


def test_public_keys_parse_from_base64url_and_pem() -> None:
    key = SigningKey.generate()
    pem = (
        load_public(key.public_key)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert parse_public_key(b64url(key.public_key)) == key.public_key
    assert parse_public_key(pem) == key.public_key
    with pytest.raises(KeyUnusable, match="32 bytes"):
        parse_public_key(b64url(b"short"))
    with pytest.raises(KeyUnusable, match="public key"):
        parse_public_key("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----")


def test_file_sequence_never_repeats_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "awo-en.sequence"
    assert FileSequence(path).reserve(3) == 0
    assert FileSequence(path).reserve(2) == 3  # a new process continues, never repeats
    state = json.loads(path.read_text())
    assert state["next"] == 5
    assert [(e["first"], e["end"]) for e in state["open"]] == [(0, 3), (3, 5)]
    path.write_text(json.dumps({"next": 7}))  # a file from before the journal
    assert FileSequence(path).reserve(1) == 7
    path.write_text("garbage")
    with pytest.raises(KeyUnusable, match="unreadable sequence file"):
        FileSequence(path).reserve(1)


def test_local_keys(tmp_path: Path) -> None:
    keys = LocalKeys(tmp_path)
    with pytest.raises(KeyUnusable, match="no signing key for partner 'awo-en'"):
        keys.signer("awo-en")
    made = keys.create("awo-en")
    assert (tmp_path / "awo-en.key").stat().st_mode & 0o777 == 0o600
    assert keys.signer("awo-en").key.key_id == made.key_id
    with pytest.raises(KeyUnusable, match="exists already"):
        keys.create("awo-en")
    assert SigningKey.load(tmp_path / "awo-en.key").public_key == made.public_key
    (tmp_path / "broken.key").write_text("not a key")
    with pytest.raises(KeyUnusable, match="cannot read an Ed25519 private key"):
        SigningKey.load(tmp_path / "broken.key")
