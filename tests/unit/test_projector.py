"""The projector on the fake store: it retries transient failures, reloads keys before
dead-lettering, and confirms a dead letter before the offsets move past it."""

from __future__ import annotations

from refnet.events.codec import validate
from refnet.events.signing import CounterSequence, Signer, SigningKey, load_public
from refnet.projections.store.outcomes import DeadLetter
from refnet.projections.worker.projector import Projector, Record
from refnet.projections.worker.signatures import KeyRing, RegisteredKey
from tests.fakes.outcome_store import FakeOutcomeStore
from tests.unit.examples import PARTNER, valid_example

KEY = SigningKey.generate()
SIGNER = Signer(KEY, PARTNER, CounterSequence())
RING = KeyRing([RegisteredKey(KEY.key_id, "partner", PARTNER, load_public(KEY.public_key), None)])
EMPTY = KeyRing([])


def signed_records(count: int, first_offset: int = 0) -> list[Record]:
    event = validate(valid_example("participant.enrolled"))
    records = []
    for n in range(count):
        pid = f"person-{n:04d}"
        value = SIGNER.encode_at(event.model_copy(update={"participant_id": pid}), n)
        records.append(Record(0, first_offset + n, pid.encode(), value))
    return records


class Rings:
    """Key loads answered from a script: what the registry held at each load."""

    def __init__(self, *rings: KeyRing) -> None:
        self.rings = list(rings)
        self.loads = 0

    async def __call__(self) -> KeyRing:
        self.loads += 1
        return self.rings[min(self.loads, len(self.rings)) - 1]


class Letters:
    """A dead-letter sink that notes the store's offsets when each letter is confirmed."""

    def __init__(self, store: FakeOutcomeStore) -> None:
        self.store = store
        self.sent: list[tuple[DeadLetter, int]] = []

    async def __call__(self, letter: DeadLetter) -> None:
        stored = (await self.store.offsets()).get(letter.position.partition, 0)
        self.sent.append((letter, stored))


async def test_a_transient_failure_is_retried_on_the_same_batch_until_it_applies() -> None:
    store = FakeOutcomeStore()
    store.fail_next = 2
    failures: list[str] = []
    projector = Projector(
        store, Letters(store), Rings(RING), max_backoff=0.01, on_unavailable=failures.append
    )

    result = await projector.project(signed_records(3))

    assert result.applied == 3 and store.attempts == 3
    assert len(failures) == 2 and "fake database is down" in failures[0]
    assert await store.offsets() == {0: 3}


async def test_keys_are_reloaded_before_any_event_is_dead_lettered() -> None:
    store = FakeOutcomeStore()
    rings = Rings(EMPTY, RING)  # the partner's key was registered after the first load
    letters = Letters(store)
    projector = Projector(store, letters, rings)

    result = await projector.project(signed_records(2))

    assert rings.loads == 2
    assert letters.sent == [] and result.applied == 2


async def test_an_unknown_key_is_dead_lettered_after_one_reload() -> None:
    store = FakeOutcomeStore()
    rings = Rings(EMPTY)
    letters = Letters(store)

    result = await Projector(store, letters, rings).project(signed_records(2))

    assert rings.loads == 2 and result.dead_lettered == 2
    assert [letter.reason.split(":")[0] for letter, _ in letters.sent] == ["bad signature"] * 2


async def test_a_dead_letter_is_confirmed_before_the_offsets_move_past_it() -> None:
    store = FakeOutcomeStore()
    letters = Letters(store)
    good = signed_records(2)
    poison = Record(0, 2, b"person-x", b"\xff not json")

    await Projector(store, letters, Rings(RING)).project([*good, poison])

    [(letter, stored_when_sent)] = letters.sent
    assert letter.position.offset == 2 and letter.reason.startswith("undecodable")
    assert stored_when_sent <= 2  # the offset had not yet moved past the letter
    assert await store.offsets() == {0: 3}
    assert (0, 2) in store.parked
