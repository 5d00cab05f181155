"""Absent sequence numbers split into missing and accounted for, from plain ledger data."""

from __future__ import annotations

import hashlib

from refnet.projections.audit.findings import GAP, UNUSED
from refnet.projections.audit.sequence_accounting import (
    ABANDONED_BY_GATEWAY,
    Block,
    SequenceLedger,
    UnusedRange,
    account,
)
from refnet.projections.audit.sequences import Numbered, check_sequences

REFUSED = "publish not confirmed: broker down"


def entry(sequence: int, publisher: str = "gateway") -> Numbered:
    eid = f"e-{publisher}-{sequence}"
    return Numbered(publisher, sequence, 0, sequence, eid, hashlib.sha256(eid.encode()).digest())


def entries(*numbers: int, publisher: str = "gateway") -> list[Numbered]:
    return [entry(n, publisher) for n in numbers]


def test_nothing_explained_leaves_everything_missing() -> None:
    assert account([(2, 3), (6, 6)], []) == ([(2, 3), (6, 6)], [])


def test_an_explanation_covers_part_of_a_range_and_the_rest_stays_missing() -> None:
    missing, accounted = account([(2, 9)], [(4, 5, REFUSED)])
    assert missing == [(2, 3), (6, 9)]
    assert accounted == [(4, 5, REFUSED)]


def test_overlapping_explanations_account_each_number_once_the_earliest_winning() -> None:
    explained = [(0, 5, "a"), (3, 8, "b"), (4, 4, "c"), (20, 30, "d")]
    missing, accounted = account([(1, 9), (25, 26)], explained)
    assert missing == [(9, 9)]
    assert accounted == [(1, 5, "a"), (6, 8, "b"), (25, 26, "d")]


def test_one_explanation_spanning_several_absent_ranges() -> None:
    missing, accounted = account([(1, 1), (3, 4), (8, 8)], [(0, 5, REFUSED)])
    assert missing == [(8, 8)]
    assert accounted == [(1, 1, REFUSED), (3, 4, REFUSED)]


def test_adjacent_explanations_of_one_reason_are_merged() -> None:
    assert account([(2, 5)], [(2, 3, REFUSED), (4, 5, REFUSED)]) == ([], [(2, 5, REFUSED)])


def test_a_refused_publish_is_unused_not_a_gap() -> None:
    ledger = SequenceLedger(unused=(UnusedRange("gateway", 499, 499, REFUSED),))
    findings = check_sequences(entries(*range(499), *range(500, 1500)), ledger)
    assert [(f.kind, f.message) for f in findings] == [
        (UNUSED, f"publisher gateway: 1 unused (number 499): {REFUSED}")
    ]
    assert findings[0].detail["ranges"] == [(499, 499)]


def test_numbers_absent_inside_an_abandoned_block_are_accounted() -> None:
    blocks = (
        Block("gateway", 0, 1000, "refnet-gateway-a", "abandoned"),
        Block("gateway", 1000, 2000, "refnet-gateway-b", "open"),
    )
    # 2..999 went with the crashed gateway; 1001 is absent from a block still open: missing.
    findings = check_sequences(entries(0, 1, 1000, 1002), SequenceLedger(blocks=blocks))
    assert [(f.kind, f.message) for f in findings] == [
        (GAP, "publisher gateway: 1 missing (number 1001)"),
        (UNUSED, f"publisher gateway: 998 unused (numbers 2..999): {ABANDONED_BY_GATEWAY}"),
    ]


def test_a_recorded_unused_number_on_the_log_counts_as_used() -> None:
    # Confirmed to the broker but reported failed to the client (a timeout): no finding.
    ledger = SequenceLedger(unused=(UnusedRange("gateway", 1, 2, REFUSED),))
    assert check_sequences(entries(0, 1, 2, 3), ledger) == []
    # Only the absent part of a recorded range is reported.
    [finding] = check_sequences(entries(0, 1, 3), ledger)
    assert (finding.kind, finding.detail["ranges"]) == (UNUSED, [(2, 2)])


def test_a_ledger_explains_only_its_own_publisher() -> None:
    ledger = SequenceLedger(unused=(UnusedRange("awo-en", 1, 1, REFUSED),))
    findings = check_sequences(entries(0, 2) + entries(0, 2, publisher="awo-en"), ledger)
    assert [(f.kind, f.detail["publisher_id"]) for f in findings] == [
        (UNUSED, "awo-en"),
        (GAP, "gateway"),
    ]


def test_unused_reasons_are_reported_one_finding_each() -> None:
    ledger = SequenceLedger(
        unused=(UnusedRange("gateway", 1, 1, REFUSED),),
        blocks=(Block("gateway", 3, 5, "refnet-gateway-c", "abandoned"),),
    )
    findings = check_sequences(entries(0, 2, 5), ledger)
    assert [(f.kind, f.detail["reason"], f.detail["unused"]) for f in findings] == [
        (UNUSED, REFUSED, 1),
        (UNUSED, ABANDONED_BY_GATEWAY, 2),
    ]
