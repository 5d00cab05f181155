"""Folding the log part by part (`LogReplay`) holds one part's states and gives the
results of one fold of the whole log: states, rows, dead letters, rejections,
outcomes as of an instant, the ESF+ report and the table comparison."""

from __future__ import annotations

import datetime as dt
import json
import uuid
import weakref
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from refnet.events.catalogue import EventModel
from refnet.events.codec import validate
from refnet.events.settings import Settings
from refnet.events.signing import CounterSequence, Signer, SigningKey, load_public
from refnet.projections.audit import parts as parts_module
from refnet.projections.audit.asof import OutcomesAsOf, TimeBasis, outcomes_as_of
from refnet.projections.audit.log_replay import LogReplay
from refnet.projections.audit.parts import Part, plan_parts
from refnet.projections.audit.replay import Replay
from refnet.projections.audit.tables import PartwiseComparison, compare_tables, replay_tables
from refnet.projections.fold import batch
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.reports.esf_asof import EsfAsOf, replayed_esf
from refnet.projections.store.views import Period
from refnet.projections.worker.projector import Record
from refnet.projections.worker.signatures import KeyRing, RegisteredKey
from refnet.services.demo.generator import demo_history
from tests.unit.examples import valid_example

PARTITIONS = 4
SETTINGS = Settings()


def signed_log() -> tuple[KeyRing, dict[int, list[Record]]]:
    """The demo network's history signed by its partners, keyed and partitioned by
    participant, with a forgery, a record that is no event and a keyless event."""
    events = demo_history()
    keys = {p: SigningKey.generate() for p in sorted({e.partner_id for e in events})}
    ring = KeyRing(
        [
            RegisteredKey(k.key_id, "partner", p, load_public(k.public_key), None)
            for p, k in keys.items()
        ]
    )
    signers = {p: Signer(k, p, CounterSequence()) for p, k in keys.items()}
    sequences = dict.fromkeys(keys, 0)
    log: dict[int, list[Record]] = {p: [] for p in range(PARTITIONS)}

    def append(event: EventModel, key: bytes | None, signer: str | None = None) -> None:
        by = signer or event.partner_id
        value = signers[by].encode_at(event, sequences[by])
        sequences[by] += 1
        partition = zlib.crc32(event.participant_id.encode()) % PARTITIONS
        log[partition].append(Record(partition, len(log[partition]), key, value))

    for n, event in enumerate(events):
        forged = n == 700  # signed with another partner's key: a dead letter
        other = next(p for p in keys if p != event.partner_id) if forged else None
        append(event, None if n == 1500 else event.participant_id.encode(), other)
    # Answers to referrals never sent break a rule; two pairs share an event id.
    for n in range(8):
        body = valid_example("referral.accepted") | {
            "event_id": str(uuid.UUID(int=n // 2 if n < 4 else n)),
            "participant_id": f"p-ghost-{n}",
            "partner_id": "awo-en",
        }
        ghost = validate(body)
        append(ghost, ghost.participant_id.encode())
    log[2].append(Record(2, len(log[2]), b"p-nobody", b"not an event"))
    return ring, log


@pytest.fixture(scope="module")
def world() -> tuple[KeyRing, dict[int, list[Record]]]:
    return signed_log()


@pytest.fixture
def fake_log(
    world: tuple[KeyRing, dict[int, list[Record]]], monkeypatch: pytest.MonkeyPatch
) -> dict[int, list[Record]]:
    """`read_log` served from memory: partitions interleaved, offsets rising in each."""
    _, log = world

    def read_log(_settings: Settings, ends: Mapping[int, int], **_: Any) -> Iterator[Record]:
        queues = {p: iter(log[p][: ends[p]]) for p in sorted(ends)}
        while queues:
            for partition in list(queues):
                for _turn in range(7):  # a few from each in turn, as a broker delivers them
                    record = next(queues[partition], None)
                    if record is None:
                        del queues[partition]
                        break
                    yield record

    monkeypatch.setattr(parts_module, "read_log", read_log)
    return log


class _Counted(ParticipantState):
    """A state that counts how many of its kind are alive."""

    alive = 0
    most = 0

    def __init__(self, participant_id: str) -> None:
        super().__init__(participant_id)
        cls = type(self)
        cls.alive += 1
        cls.most = max(cls.most, cls.alive)
        weakref.finalize(self, _Counted._gone)

    @staticmethod
    def _gone() -> None:
        _Counted.alive -= 1


def whole(ring: KeyRing, log: dict[int, list[Record]]) -> Replay:
    """One fold of the whole log, partitions interleaved."""
    replay = Replay(ring, ends=dict.fromkeys(log, 0))
    records = [r for p in sorted(log) for r in log[p]]
    records.sort(key=lambda r: (r.offset, r.partition))
    replay.feed(records)
    return replay


def people_per_part(log: dict[int, list[Record]], part: Part) -> int:
    keys = {
        r.key
        for p in part.ends
        for r in log[p]
        if not part.split or (r.key is not None and zlib.crc32(r.key) % part.buckets == part.bucket)
    }
    return len(keys) + 1  # the keyless record's participant may join any part


def test_a_long_partition_is_split_into_buckets_and_short_ones_grouped() -> None:
    plan = plan_parts({0: 50, 1: 30, 2: 250, 3: 10, 4: 0}, limit=100)
    assert plan == [
        Part({0: 50, 1: 30}),
        Part({2: 250}, 0, 3),
        Part({2: 250}, 1, 3),
        Part({2: 250}, 2, 3),
        Part({3: 10, 4: 0}),
    ]


@pytest.mark.parametrize("limit", [300, 1_000, 100_000])
def test_parts_add_up_to_the_fold_of_the_whole_log(
    world: tuple[KeyRing, dict[int, list[Record]]],
    fake_log: dict[int, list[Record]],
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
) -> None:
    ring, log = world
    expected = whole(ring, log)
    ends = {p: len(records) for p, records in log.items()}
    plan = plan_parts(ends, limit)
    instants = [dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    tallies = [OutcomesAsOf(i, b, 14) for i in instants for b in TimeBasis]
    period = Period.model_validate({"from": None, "to": None})
    esf = [EsfAsOf(i, period, TimeBasis.RECORDED) for i in instants]
    live = replay_tables(expected)
    live["participants"] = live["participants"][1:]  # a row lost from the live model
    compared = PartwiseComparison(live)

    monkeypatch.setattr(batch, "ParticipantState", _Counted)
    _Counted.alive = _Counted.most = 0
    replay = LogReplay(SETTINGS, ring, ends, workers=0, limit=limit)
    states: dict[str, str] = {}
    rows: list[str] = []
    letters: list[tuple[int, int]] = []
    rejections: list[Any] = []
    for part in replay.parts():
        assert not states.keys() & part.states.keys()  # a participant is in one part
        states |= {pid: s.to_json() for pid, s in part.states.items()}
        rows += [repr(r) for r in part.rows()]
        letters += [(d.position.partition, d.position.offset) for d in part.dead_letters]
        kept = replay.stored_rejections(part)
        rejections += kept
        everything: list[OutcomesAsOf | EsfAsOf] = [*tallies, *esf]
        for tally in everything:
            tally.add(part.states.values())
        compared.add(replay_tables(part, kept))

    # One part's states at a time, never the whole log's.
    assert _Counted.most <= max(people_per_part(log, p) for p in plan)
    if len(plan) > 1:
        assert _Counted.most < len(expected.states)
    assert replay.largest_part <= _Counted.most

    assert states == {pid: s.to_json() for pid, s in expected.states.items()}
    assert sorted(rows) == sorted(repr(r) for r in expected.rows())
    assert sorted(letters) == sorted(
        (d.position.partition, d.position.offset) for d in expected.dead_letters
    )
    assert len(letters) == replay.dead_letter_count == 2
    assert sorted(rejections, key=repr) == sorted(expected.stored_rejections(), key=repr)
    assert replay.rejection_count == len(expected.rejections) > 0
    assert (replay.records, replay.applied, replay.duplicates) == (
        expected.records,
        expected.applied,
        expected.duplicates,
    )
    assert replay.ends == expected.ends == ends
    assert replay.participants == sum(1 for s in expected.states.values() if s.facts)

    for tally in tallies:
        assert tally.outcomes() == outcomes_as_of(
            expected.states.values(), tally.as_of, tally.basis, 14
        )
    for tally, instant in zip(esf, instants, strict=True):
        got = tally.report("log", replay.ends).model_dump_json()
        assert got == replayed_esf(expected, "log", instant, period).model_dump_json()
    assert json.dumps([c.__dict__ for c in compared.comparisons()], default=repr) == json.dumps(
        [c.__dict__ for c in compare_tables(live, replay_tables(expected))], default=repr
    )
