"""Sealing contact details into events: what opens, what does not, and the door's checks.

No I/O: the data keys live in `MemoryDataKeys`, a store kept in a dict that
behaves as `PostgresDataKeyStore` does (tested against PostgreSQL in
`tests/integration/test_contact_ingestion.py`).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest

from refnet.events.catalogue import ContactRecorded, SealedData
from refnet.events.codec import encode, validate
from refnet.events.contact import ClearContactRecorded, ContactDetails
from refnet.events.errors import EventInvalid
from refnet.events.sealing import (
    DataKey,
    DataKeyStore,
    KeyGone,
    SealBroken,
    associated_data,
    clear_contact,
    clear_digest,
    kek_id,
    new_data_key,
    open_contact,
    open_sealed,
    seal,
    seal_contact,
    seal_event,
    seal_events,
    unwrap_key,
    wrap_key,
)
from refnet.events.settings import Settings
from refnet.services.gateway.ingest import validate_items
from refnet.services.gateway.refusals import Refused
from refnet.services.registry.data_keys import KekMalformed, KekMissing, load_kek, parse_kek
from tests.unit.examples import OTHER_PARTNER, PARTICIPANT, PARTNER, valid_example

DETAILS = ContactDetails(
    name="Amina Haddad", phone="+49 176 1234567", email="amina@example.org", preferred_language="ar"
)
EVENT_ID = "3f2b8c1e-6a4d-4e1f-9b2a-7c5d8e9f0a1b"


class MemoryDataKeys:
    """A `DataKeyStore` in a dict, for tests without PostgreSQL."""

    def __init__(self) -> None:
        self.keys: dict[str, DataKey | None] = {}

    async def key_for(self, participant_id: str) -> DataKey:
        key = self.keys.setdefault(participant_id, new_data_key())
        if key is None:
            raise KeyGone(f"the data key of participant {participant_id} was destroyed")
        return key

    async def existing(self, participant_id: str) -> DataKey | None:
        return self.keys.get(participant_id)

    async def destroy(self, participant_id: str) -> str | None:
        key = self.keys.get(participant_id)
        self.keys[participant_id] = None
        return None if key is None else key.key_id


def _store() -> DataKeyStore:
    return MemoryDataKeys()


def clear_item(**changes: Any) -> dict[str, Any]:
    item = valid_example("participant.contact_recorded")
    item["data"] = {"contact": DETAILS.model_dump(exclude_none=True)}
    return item | changes


def sealed_for(key: DataKey, **ids: str) -> SealedData:
    where = {"event_id": EVENT_ID, "participant_id": PARTICIPANT, "partner_id": PARTNER} | ids
    return seal_contact(key, DETAILS, **where)


# ------------------------------------------------------------------ seal and open


def test_sealed_details_open_again_in_their_own_event() -> None:
    key = new_data_key()
    sealed = sealed_for(key)

    opened = open_contact(
        key, sealed, event_id=EVENT_ID, participant_id=PARTICIPANT, partner_id=PARTNER
    )

    assert opened == DETAILS
    assert sealed.key_id == key.key_id and sealed.alg == "AES-256-GCM"
    assert "Amina" not in sealed.ciphertext and "1234567" not in sealed.ciphertext


def test_the_same_details_seal_differently_each_time() -> None:
    key = new_data_key()
    assert sealed_for(key).ciphertext != sealed_for(key).ciphertext


@pytest.mark.parametrize(
    "moved_to",
    [
        {"event_id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"},
        {"participant_id": "p-0000000000"},
        {"partner_id": OTHER_PARTNER},
    ],
    ids=["another event", "another participant", "another partner"],
)
def test_a_ciphertext_copied_into_another_event_does_not_open(moved_to: dict[str, str]) -> None:
    key = new_data_key()
    sealed = sealed_for(key)
    where = {"event_id": EVENT_ID, "participant_id": PARTICIPANT, "partner_id": PARTNER}

    with pytest.raises(SealBroken, match="does not open"):
        open_contact(key, sealed, **(where | moved_to))


def test_a_ciphertext_copied_into_another_event_type_does_not_open() -> None:
    key = new_data_key()
    sealed = sealed_for(key)
    other_type = associated_data("consent.given", EVENT_ID, PARTICIPANT, PARTNER)

    with pytest.raises(SealBroken):
        open_sealed(key, sealed, other_type)


def test_another_key_does_not_open_it() -> None:
    key, other = new_data_key(), new_data_key()
    sealed = sealed_for(key)
    impostor = DataKey(key.key_id, other.secret)  # the right id, the wrong secret
    where = {"event_id": EVENT_ID, "participant_id": PARTICIPANT, "partner_id": PARTNER}

    with pytest.raises(SealBroken, match="not"):
        open_contact(other, sealed, **where)
    with pytest.raises(SealBroken, match="does not open"):
        open_contact(impostor, sealed, **where)


def test_altered_ciphertext_does_not_open() -> None:
    key = new_data_key()
    sealed = seal(key, b"clear", b"aad")
    flipped = ("A" if sealed.ciphertext[0] != "A" else "B") + sealed.ciphertext[1:]

    with pytest.raises(SealBroken):
        open_sealed(key, sealed.model_copy(update={"ciphertext": flipped}), b"aad")


# ------------------------------------------------------------------ keys


def test_a_wrapped_key_unwraps_only_with_its_kek_participant_and_id() -> None:
    kek, other_kek = secrets.token_bytes(32), secrets.token_bytes(32)
    key = new_data_key()
    wrapped = wrap_key(kek, PARTICIPANT, key)

    assert unwrap_key(kek, PARTICIPANT, key.key_id, wrapped) == key
    assert key.secret not in wrapped
    with pytest.raises(SealBroken, match="does not unwrap"):
        unwrap_key(other_kek, PARTICIPANT, key.key_id, wrapped)
    with pytest.raises(SealBroken):
        unwrap_key(kek, "p-someone-else", key.key_id, wrapped)
    with pytest.raises(SealBroken):
        unwrap_key(kek, PARTICIPANT, "another-key-id", wrapped)
    assert kek_id(kek) != kek_id(other_kek) and kek.hex() not in kek_id(kek)


def test_the_repr_of_a_key_hides_its_secret() -> None:
    key = new_data_key()
    shown = repr(key) + str(key) + repr([key]) + f"{key!r}"

    assert key.key_id in shown
    assert key.secret.hex() not in shown and repr(key.secret) not in shown


def test_a_destroyed_key_is_gone_for_good() -> None:
    store = MemoryDataKeys()

    async def scenario() -> tuple[str | None, str | None, DataKey | None]:
        key = await store.key_for(PARTICIPANT)
        assert await store.key_for(PARTICIPANT) == key  # made once
        first = await store.destroy(PARTICIPANT)
        second = await store.destroy(PARTICIPANT)
        with pytest.raises(KeyGone):
            await store.key_for(PARTICIPANT)
        return first, second, await store.existing(PARTICIPANT)

    first, second, existing = asyncio.run(scenario())
    assert first is not None and second is None and existing is None


# ------------------------------------------------------------------ the KEK


def test_the_kek_comes_from_the_settings_or_its_file(tmp_path: Path) -> None:
    text = "A" * 43  # 32 zero bytes in base64url
    path = tmp_path / "kek"
    path.write_text(text + "\n")

    assert load_kek(Settings(kek=None, kek_file=path)) == bytes(32)
    assert load_kek(Settings(kek="_" * 42 + "8", kek_file=path)) == b"\xff" * 32  # REFNET_KEK wins
    with pytest.raises(KekMissing, match="refnet stack up"):
        load_kek(Settings(kek=None, kek_file=tmp_path / "none"))
    with pytest.raises(KekMalformed, match="is 24 bytes; it must be exactly 32"):
        parse_kek("A" * 32, "REFNET_KEK")
    with pytest.raises(KekMalformed, match="not base64url"):
        parse_kek("!" * 43, "REFNET_KEK")


# ------------------------------------------------------------------ at the door


def test_a_clear_contact_event_is_sealed_and_opens_with_the_participants_key() -> None:
    store = MemoryDataKeys()
    clear = clear_contact(clear_item())

    sealed, kept = asyncio.run(
        seal_events([clear, validate(valid_example("referral.sent"))], store)
    )

    assert isinstance(sealed, ContactRecorded) and kept.type == "referral.sent"
    assert b"Amina" not in encode(sealed) and b"1234567" not in encode(sealed)
    key = asyncio.run(store.key_for(PARTICIPANT))
    where = {"participant_id": PARTICIPANT, "partner_id": PARTNER}
    assert open_contact(key, sealed.data.sealed, event_id=str(sealed.event_id), **where) == DETAILS
    assert sealed.model_dump(exclude={"data"}) == clear.model_dump(exclude={"data"})


def test_an_erased_participant_gets_no_contact_details_sealed() -> None:
    store = MemoryDataKeys()
    asyncio.run(store.destroy(PARTICIPANT))

    with pytest.raises(KeyGone):
        asyncio.run(seal_events([clear_contact(clear_item())], store))


def test_the_digest_of_a_clear_body_is_keyed() -> None:
    key, other = new_data_key(), new_data_key()
    body = b'{"phone":"+49 176 1234567"}'

    assert clear_digest(key, body) == clear_digest(key, body)
    assert clear_digest(key, body) != clear_digest(other, body)


def test_a_bad_contact_detail_is_named_with_its_field() -> None:
    item = clear_item()
    item["data"]["contact"]["phone"] = "call me"
    item["data"]["contact"]["email"] = "nobody"

    with pytest.raises(EventInvalid) as caught:
        clear_contact(item)

    fields = {p.field: p.reason for p in caught.value.problems}
    assert set(fields) == {"data.contact.phone", "data.contact.email"}
    assert "phone number" in fields["data.contact.phone"]


def test_a_ciphertext_from_a_publisher_is_refused() -> None:
    item = valid_example("participant.contact_recorded")

    with pytest.raises(EventInvalid, match="data.sealed: is sealed at the door"):
        clear_contact(item)


def test_the_gateway_names_each_bad_contact_field_by_event() -> None:
    good, bad = clear_item(), clear_item(event_id=str(uuid.uuid4()))
    bad["data"]["contact"]["phone"] = "12"
    sealed = valid_example("participant.contact_recorded") | {"event_id": str(uuid.uuid4())}
    empty = clear_item(event_id=str(uuid.uuid4()), data={"contact": {}})

    with pytest.raises(Refused) as caught:
        validate_items([good, bad, sealed, empty])

    refused = caught.value
    assert refused.status == 422
    assert [(p.index, p.field) for p in refused.problems] == [
        (1, "data.contact.phone"),
        (2, "data.sealed"),
        (3, "data.contact"),
    ]


def test_the_gateway_refuses_personal_data_in_free_text() -> None:
    item = valid_example("event.retracted")
    item["data"]["reason"] = "wrong person, write to amina@example.org"

    with pytest.raises(Refused) as caught:
        validate_items([item])

    [problem] = caught.value.problems
    assert (caught.value.status, problem.field) == (422, "data.reason")
    assert "e-mail" in problem.reason


def test_a_clear_event_keeps_its_envelope_when_sealed() -> None:
    clear = ClearContactRecorded.model_validate(clear_item())
    event = seal_event(new_data_key(), clear)

    assert event.type == "participant.contact_recorded"
    assert (event.event_id, event.participant_id, event.partner_id, event.site) == (
        clear.event_id,
        clear.participant_id,
        clear.partner_id,
        clear.site,
    )


def test_the_repr_of_clear_details_hides_them() -> None:
    clear = clear_contact(clear_item())
    shown = repr(clear) + str(clear) + repr(DETAILS)

    assert "Amina" not in shown and "1234567" not in shown and "example.org" not in shown
    assert "phone='***'" in shown
