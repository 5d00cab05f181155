"""Checking each publisher's sequence numbers: gaps, repeats, re-sends and reorderings.

Pure: the numbers come in as `Numbered` entries read off the log, the registry's
account of unused numbers as plain data. Also the findings for bad records.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import NamedTuple

from refnet.projections.audit.findings import (
    GAP,
    RECORD_KINDS,
    REORDERING,
    REPEAT,
    RESEND,
    UNUSED,
    Finding,
)
from refnet.projections.audit.sequence_accounting import Explained, SequenceLedger, account, count
from refnet.projections.store.outcomes import DeadLetter
from refnet.projections.worker.projector import Record

# ------------------------------------------------------------- the records


def record_finding(letter: DeadLetter) -> Finding:
    """The finding for a record the projection would not apply (a dead letter)."""
    kind = letter.reason.split(":", 1)[0]
    return Finding(
        kind if kind in RECORD_KINDS else "invalid",
        letter.reason,
        letter.position.partition,
        letter.position.offset,
        letter.event_id,
    )


class Numbered(NamedTuple):
    """Where one publisher's sequence number sits in the log."""

    publisher_id: str
    sequence: int
    partition: int
    offset: int
    event_id: str
    digest: bytes  # of the record's bytes: tells an identical re-send from another event


def numbered(record: Record) -> Numbered | None:
    """The integrity fields of a record (None if it has none); the signature is checked apart."""
    try:
        body = json.loads(record.value or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    publisher, sequence = body.get("publisher_id"), body.get("sequence")
    if not isinstance(publisher, str) or not isinstance(sequence, int):
        return None
    return Numbered(
        publisher,
        sequence,
        record.partition,
        record.offset,
        str(body.get("event_id")),
        hashlib.sha256(record.value or b"").digest()[:16],
    )


# ------------------------------------------------------ publisher sequences


def check_sequences(
    entries: Iterable[Numbered], ledger: SequenceLedger | None = None
) -> list[Finding]:
    """Gaps, repeats and reorderings in each publisher's numbers, publishers in name order.

    With the registry's `ledger`, absent numbers it explains are UNUSED findings
    (not discrepancies) instead of gaps.
    """
    ledger = ledger or SequenceLedger()
    by_publisher: dict[str, list[Numbered]] = defaultdict(list)
    for entry in entries:
        by_publisher[entry.publisher_id].append(entry)
    findings: list[Finding] = []
    for publisher in sorted(by_publisher):
        mine = sorted(by_publisher[publisher], key=lambda e: (e.sequence, e.partition, e.offset))
        findings.extend(_gaps(publisher, mine, ledger.explanations(publisher)))
        findings.extend(_repeats(publisher, mine))
        findings.extend(_reorderings(publisher, mine, ledger.holders(publisher)))
    return findings


def missing_ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """The inclusive ranges of numbers absent between 0 and the highest of `numbers`."""
    ranges: list[tuple[int, int]] = []
    expected = 0
    for n in sorted(set(numbers)):
        if n > expected:
            ranges.append((expected, n - 1))
        expected = max(expected, n + 1)
    return ranges


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


def _gaps(publisher: str, entries: list[Numbered], explained: list[Explained]) -> list[Finding]:
    missing, accounted = account(missing_ranges(e.sequence for e in entries), explained)
    findings: list[Finding] = []
    if missing:
        total = count(missing)
        noun = "number" if total == 1 else "numbers"
        spans = ", ".join(_span(first, last) for first, last in missing)
        findings.append(
            Finding(
                GAP,
                f"publisher {publisher}: {total} missing ({noun} {spans})",
                detail={"publisher_id": publisher, "missing": total, "ranges": missing},
            )
        )
    by_reason: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for first, last, reason in accounted:
        by_reason[reason].append((first, last))
    for reason, ranges in by_reason.items():
        total = count(ranges)
        noun = "number" if total == 1 else "numbers"
        spans = ", ".join(_span(first, last) for first, last in ranges)
        detail = {"publisher_id": publisher, "unused": total, "ranges": ranges, "reason": reason}
        message = f"publisher {publisher}: {total} unused ({noun} {spans}): {reason}"
        findings.append(Finding(UNUSED, message, detail=detail))
    return findings


def _where(entry: Numbered) -> str:
    return f"event {entry.event_id} at partition {entry.partition} offset {entry.offset}"


def _repeats(publisher: str, entries: list[Numbered]) -> list[Finding]:
    by_number: dict[int, list[Numbered]] = defaultdict(list)
    for entry in entries:
        by_number[entry.sequence].append(entry)
    findings: list[Finding] = []
    for number, carriers in sorted(by_number.items()):
        if len(carriers) < 2:
            continue
        records = [
            {"partition": e.partition, "offset": e.offset, "event_id": e.event_id} for e in carriers
        ]
        detail = {"publisher_id": publisher, "sequence": number, "records": records}
        first = carriers[0]
        if len({e.digest for e in carriers}) == 1:
            places = ", ".join(f"partition {e.partition} offset {e.offset}" for e in carriers)
            message = (
                f"publisher {publisher}: number {number} sent {len(carriers)} times, "
                f"identical copies of event {first.event_id} ({places})"
            )
            findings.append(
                Finding(RESEND, message, first.partition, first.offset, first.event_id, detail)
            )
        else:
            what = (
                "one event_id with different content"
                if len({e.event_id for e in carriers}) == 1
                else f"{len(carriers)} different events"
            )
            message = f"publisher {publisher}: number {number} carried by {what}: " + "; ".join(
                _where(e) for e in carriers
            )
            findings.append(
                Finding(REPEAT, message, first.partition, first.offset, first.event_id, detail)
            )
    return findings


def _reorderings(
    publisher: str, entries: list[Numbered], holder: Callable[[int], str | None]
) -> list[Finding]:
    """A number below one seen earlier in the same partition from the same holder (one
    gateway process, or none: the publisher's own); repeats are reported apart."""
    by_partition: dict[tuple[int, str], list[Numbered]] = defaultdict(list)
    for entry in entries:
        by_partition[entry.partition, holder(entry.sequence) or ""].append(entry)
    findings: list[Finding] = []
    for partition, held in sorted(by_partition):
        highest: Numbered | None = None
        seen: set[int] = set()
        for entry in sorted(by_partition[partition, held], key=lambda e: e.offset):
            late = highest is not None and entry.sequence < highest.sequence
            if late and entry.sequence not in seen:
                assert highest is not None
                findings.append(
                    Finding(
                        REORDERING,
                        f"publisher {publisher}, partition {partition}: number {entry.sequence} "
                        f"at offset {entry.offset} comes after number {highest.sequence} "
                        f"at offset {highest.offset}",
                        partition,
                        entry.offset,
                        entry.event_id,
                        {
                            "publisher_id": publisher,
                            "sequence": entry.sequence,
                            "after_sequence": highest.sequence,
                            "after_offset": highest.offset,
                        },
                    )
                )
            seen.add(entry.sequence)
            if highest is None or entry.sequence > highest.sequence:
                highest = entry
    return findings
