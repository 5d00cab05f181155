"""The pure parts of `refnet audit verify`: sequence checks and the table comparison."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from refnet.events.catalogue import EventModel
from refnet.events.codec import validate
from refnet.events.signing import CounterSequence, Signer, SigningKey, load_public
from refnet.projections.audit.findings import GAP, REORDERING, REPEAT, RESEND
from refnet.projections.audit.replay import Replay
from refnet.projections.audit.sequence_accounting import Block, SequenceLedger
from refnet.projections.audit.sequences import (
    Numbered,
    check_sequences,
    missing_ranges,
    numbered,
    record_finding,
)
from refnet.projections.audit.tables import (
    compare_table,
    compare_tables,
    live_tables,
    replay_tables,
)
from refnet.projections.store.schema import TABLE_KEYS
from refnet.projections.worker.projector import Record
from refnet.projections.worker.signatures import KeyRing, RegisteredKey
from tests.unit.examples import valid_example


def entry(
    sequence: int,
    partition: int = 0,
    offset: int | None = None,
    publisher: str = "bobeq",
    event_id: str | None = None,
    body: bytes | None = None,
) -> Numbered:
    eid = event_id or f"e-{publisher}-{sequence}-{partition}-{offset}"
    digest = hashlib.sha256(body if body is not None else eid.encode()).digest()[:16]
    return Numbered(
        publisher, sequence, partition, sequence if offset is None else offset, eid, digest
    )


# ------------------------------------------------------------- sequences


def test_a_clean_history_has_no_findings() -> None:
    # One publisher spread over three partitions, numbers rising within each.
    entries = [entry(n, partition=n % 3, offset=n // 3) for n in range(12)]
    entries += [entry(n, publisher="gateway", partition=1, offset=100 + n) for n in range(5)]
    assert check_sequences(reversed(entries)) == []


def test_missing_numbers_are_reported_as_ranges() -> None:
    assert missing_ranges([0, 1, 4, 5, 7]) == [(2, 3), (6, 6)]
    assert missing_ranges([3]) == [(0, 2)]
    assert missing_ranges([0, 1, 1, 2]) == []
    assert missing_ranges([]) == []


def test_a_gap_names_the_publisher_and_the_missing_numbers() -> None:
    findings = check_sequences([entry(0), entry(1), entry(4), entry(5, partition=2, offset=0)])
    assert [(f.kind, f.message) for f in findings] == [
        (GAP, "publisher bobeq: 2 missing (numbers 2..3)")
    ]
    assert findings[0].detail == {"publisher_id": "bobeq", "missing": 2, "ranges": [(2, 3)]}

    several = check_sequences([entry(0), entry(2), entry(5)])
    assert [f.message for f in several] == ["publisher bobeq: 3 missing (numbers 1, 3..4)"]
    single = check_sequences([entry(1, publisher="awo-en")])
    assert [f.message for f in single] == ["publisher awo-en: 1 missing (number 0)"]


def test_two_different_events_under_one_number_are_a_repeat() -> None:
    first = entry(1, partition=0, offset=1, event_id="e-a")
    second = entry(1, partition=4, offset=0, event_id="e-b")
    findings = check_sequences([entry(0), first, second, entry(2, partition=0, offset=2)])
    assert [f.kind for f in findings] == [REPEAT]
    repeat = findings[0]
    assert repeat.message == (
        "publisher bobeq: number 1 carried by 2 different events: "
        "event e-a at partition 0 offset 1; event e-b at partition 4 offset 0"
    )
    assert repeat.detail["records"] == [
        {"partition": 0, "offset": 1, "event_id": "e-a"},
        {"partition": 4, "offset": 0, "event_id": "e-b"},
    ]


def test_one_event_id_with_other_content_under_one_number_is_a_repeat() -> None:
    findings = check_sequences(
        [entry(0, event_id="e-a", body=b"one"), entry(0, offset=1, event_id="e-a", body=b"two")]
    )
    assert [f.kind for f in findings] == [REPEAT]
    assert "one event_id with different content" in findings[0].message


def test_an_identical_re_send_is_reported_apart_and_is_no_reordering() -> None:
    original = entry(0, offset=0, event_id="e-a", body=b"same bytes")
    others = [entry(1, offset=1), entry(2, offset=2)]
    copy = entry(0, offset=3, event_id="e-a", body=b"same bytes")
    findings = check_sequences([original, *others, copy])
    assert [(f.kind, f.message) for f in findings] == [
        (
            RESEND,
            "publisher bobeq: number 0 sent 2 times, identical copies of event e-a "
            "(partition 0 offset 0, partition 0 offset 3)",
        )
    ]


def test_a_lower_number_later_in_one_partition_is_a_reordering() -> None:
    entries = [entry(0, offset=0), entry(2, offset=1), entry(1, offset=2), entry(3, offset=3)]
    findings = check_sequences(entries)
    assert [(f.kind, f.partition, f.offset) for f in findings] == [(REORDERING, 0, 2)]
    assert findings[0].message == (
        "publisher bobeq, partition 0: number 1 at offset 2 comes after number 2 at offset 1"
    )


def test_two_holders_numbers_interleave_but_each_holder_s_must_rise() -> None:
    # Two gateway processes at once: blocks 0..2 and 3..5, their numbers mixed on one partition.
    ledger = SequenceLedger(
        blocks=(Block("bobeq", 0, 3, "a", "closed"), Block("bobeq", 3, 6, "b", "closed"))
    )
    mixed = [entry(n, offset=i) for i, n in enumerate([0, 3, 1, 4, 2, 5])]
    assert check_sequences(mixed, ledger) == []
    late = [entry(n, offset=i) for i, n in enumerate([0, 3, 2, 4, 1, 5])]
    findings = check_sequences(late, ledger)
    assert [(f.kind, f.offset, f.detail["after_sequence"]) for f in findings] == [
        (REORDERING, 4, 2)
    ]
    # Without the blocks the same log is out of order where the holders interleave.
    assert [f.offset for f in check_sequences(mixed)] == [2, 4]


def test_order_across_partitions_is_not_a_reordering() -> None:
    # Number 5 sits at a lower offset of another partition than number 1: no order is defined.
    entries = [entry(5, partition=1, offset=0)] + [
        entry(n, partition=0, offset=10 + n) for n in range(5)
    ]
    assert check_sequences(entries) == []


def test_publishers_are_checked_apart() -> None:
    entries = [entry(0, publisher="a"), entry(1, publisher="a"), entry(1, publisher="b", offset=5)]
    assert [f.message for f in check_sequences(entries)] == ["publisher b: 1 missing (number 0)"]


# --------------------------------------------------------- signed records


def example(event_type: str, pid: str, **fields: str) -> EventModel:
    """A valid event of its own (a fresh event_id) about participant `pid`."""
    body = valid_example(event_type) | {"event_id": str(uuid.uuid4()), "participant_id": pid}
    return validate(body | fields)


def signed_records() -> tuple[KeyRing, list[Record]]:
    """Four records: two enrolments, a placement, one forgery (signed with another's key)."""
    awo_key, bobeq_key = SigningKey.generate(), SigningKey.generate()
    ring = KeyRing(
        [
            RegisteredKey(
                awo_key.key_id, "partner", "awo-en", load_public(awo_key.public_key), None
            ),
            RegisteredKey(
                bobeq_key.key_id, "partner", "bobeq", load_public(bobeq_key.public_key), None
            ),
        ]
    )
    awo = Signer(awo_key, "awo-en", CounterSequence())
    bobeq = Signer(bobeq_key, "bobeq", CounterSequence())
    enrolment = example("participant.enrolled", "p-0001")
    other = example("participant.enrolled", "p-0002")
    placement = example("participant.placed", "p-0001", partner_id="bobeq")
    forged = example("participant.enrolled", "p-0003")
    values = [
        awo.encode_at(enrolment, 0),
        awo.encode_at(other, 1),
        bobeq.encode_at(placement, 0),
        bobeq.encode_at(forged, 1),  # names awo-en, signed by bobeq
    ]
    pids = [b"p-0001", b"p-0002", b"p-0001", b"p-0003"]
    return ring, [
        Record(0, n, pid, value) for n, (pid, value) in enumerate(zip(pids, values, strict=True))
    ]


def test_numbered_reads_the_integrity_fields() -> None:
    _ring, records = signed_records()
    first = numbered(records[0])
    assert first is not None
    assert (first.publisher_id, first.sequence, first.partition, first.offset) == (
        "awo-en",
        0,
        0,
        0,
    )
    assert first.event_id == json.loads(records[0].value or b"")["event_id"]
    assert numbered(Record(0, 9, None, b"not json")) is None
    assert (
        numbered(Record(0, 9, None, json.dumps(valid_example("participant.enrolled")).encode()))
        is None
    )


def test_a_dead_letter_becomes_a_finding_of_its_kind() -> None:
    ring, records = signed_records()
    replay = Replay(ring)
    replay.feed(records)
    [letter] = replay.dead_letters
    finding = record_finding(letter)
    assert finding.kind == "forged"
    assert (finding.partition, finding.offset) == (0, 3)
    assert finding.message == "forged: signed with bobeq's key but names partner awo-en"
    assert finding.event_id == json.loads(records[3].value or b"")["event_id"]


# ------------------------------------------------------------ the tables


def test_compare_table_finds_rows_on_one_side_and_differing_columns() -> None:
    live = [
        {"participant_id": "p-1", "site": "witten", "enrolled": True},
        {"participant_id": "p-2", "site": "bochum", "enrolled": True},
        {"participant_id": "p-3", "site": "hattingen", "enrolled": True},
    ]
    replay = [
        {"participant_id": "p-1", "site": "witten", "enrolled": True},
        {"participant_id": "p-2", "site": "schwelm", "enrolled": False},
        {"participant_id": "p-4", "site": "witten", "enrolled": True},
    ]
    result = compare_table("participants", ["participant_id"], live, replay)
    assert not result.equal
    assert [r["participant_id"] for r in result.only_live] == ["p-3"]
    assert [r["participant_id"] for r in result.only_replay] == ["p-4"]
    [diff] = result.differing
    assert diff.key == ("p-2",)
    assert diff.columns == {"enrolled": (True, False), "site": ("bochum", "schwelm")}
    messages = [f.message for f in result.findings()]
    assert messages == [
        "participants: only in the live model: participant_id=p-3",
        "participants: only in the replay: participant_id=p-4",
        "participants: row participant_id=p-2 differs: enrolled: live True, replay False; "
        "site: live 'bochum', replay 'schwelm'",
    ]
    assert {f.kind for f in result.findings()} == {"table participants"}
    assert compare_table("participants", ["participant_id"], live, live).equal


def live_from(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The replay's rows as `snapshot` returns them: tuples, state as jsonb text."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    columns: dict[str, list[str]] = {}
    for table, found in tables.items():
        if table == "dead_letters":
            continue
        names = list(found[0]) if found else list(TABLE_KEYS[table])
        columns[table] = names
        rows[table] = [
            tuple(json.dumps(r[c]) if c == "facts" else r[c] for c in names) for r in found
        ]
    return live_tables(rows, columns, tables["dead_letters"])


def test_replay_rows_take_the_live_models_types_and_compare_equal() -> None:
    ring, records = signed_records()
    replay = Replay(ring)
    replay.feed(records)
    tables = replay_tables(replay)

    assert set(tables) == set(TABLE_KEYS)
    [participant, _] = sorted(tables["participants"], key=lambda r: r["participant_id"])
    assert isinstance(participant["first_enrolled_at"], dt.datetime)
    assert participant["first_enrolled_at"].tzinfo is not None
    assert isinstance(participant["placed_at"], dt.datetime)
    state = next(r for r in tables["participant_state"] if r["participant_id"] == "p-0001")
    assert isinstance(state["facts"], dict) and len(state["facts"]["facts"]) == 2
    assert [(d["offset"], d["reason"].split(":")[0]) for d in tables["dead_letters"]] == [
        (3, "forged")
    ]

    live = live_from(tables)
    assert all(c.equal for c in compare_tables(live, tables))


def test_an_edited_live_row_and_a_lost_state_are_found() -> None:
    ring, records = signed_records()
    replay = Replay(ring)
    replay.feed(records)
    tables = replay_tables(replay)
    live = live_from(tables)
    for row in live["participants"]:
        if row["participant_id"] == "p-0001":
            row["placement_kind"] = "employment"
    live["participant_state"] = [
        r for r in live["participant_state"] if r["participant_id"] != "p-0002"
    ]
    live["dead_letters"] = []

    unequal = {c.table: c for c in compare_tables(live, tables) if not c.equal}
    assert set(unequal) == {"participants", "participant_state", "dead_letters"}
    [diff] = unequal["participants"].differing
    assert diff.columns == {"placement_kind": ("employment", "apprenticeship")}
    assert [r["participant_id"] for r in unequal["participant_state"].only_replay] == ["p-0002"]
    assert [r["offset"] for r in unequal["dead_letters"].only_replay] == [3]
