"""What `refnet audit verify` reports: the kinds of finding, in report order, and `Finding`.

A finding names its kind, a line for people and where it is; `grouped` orders them as
the report does. Shared by the record, sequence and table checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from refnet.events.errors import RefNetError
from refnet.projections.store.schema import TABLE_KEYS

# Kinds of findings, in the order a report lists them.
RECORD_KINDS = ("undecodable", "invalid", "unsigned", "forged", "bad signature", "retired key")
GAP, REPEAT, RESEND, REORDERING = (
    "sequence gap",
    "sequence repeat",
    "sequence re-send",
    "sequence reordering",
)
UNUSED = "sequence unused"  # accounted for by the registry: reported, not a discrepancy
LAG = "read model behind"
AHEAD = "read model ahead"
COUNTS = "kept counts"  # read_counts differs from a recount of the rows

KINDS = (
    *RECORD_KINDS,
    GAP,
    UNUSED,
    REPEAT,
    RESEND,
    REORDERING,
    LAG,
    AHEAD,
    COUNTS,
    *(f"table {t}" for t in TABLE_KEYS),
)

GAP_NOTE = (
    "numbers a publisher gave up (a publish the broker refused, a crash after reserving) "
    "are accounted as unused when the registry records them; a gap is a number nothing explains"
)
LEDGER_NOTE = "unused numbers were not read (--keys with --log-only): every absent number is a gap"
SEQUENCE_NOTE = "sequence numbers are checked only on events whose signature holds"

_DEAD_LETTERS = """
SELECT partition, "offset", event_id, reason FROM dead_letters WHERE topic = $1
"""


class CannotVerify(RefNetError):
    """The check could not be carried out (as opposed to finding a discrepancy)."""


@dataclass(frozen=True)
class Finding:
    """One discrepancy: its kind, a line for people, and where it is."""

    kind: str
    message: str
    partition: int | None = None
    offset: int | None = None
    event_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "partition": self.partition,
            "offset": self.offset,
            "event_id": self.event_id,
            "detail": jsonable(self.detail),
        }


def jsonable(value: Any) -> Any:
    """`value` with datetimes, tuples and bytes turned into JSON types."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def grouped(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """Findings by kind, kinds in report order."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.kind, []).append(finding)
    order = {kind: n for n, kind in enumerate(KINDS)}
    return dict(sorted(groups.items(), key=lambda item: order.get(item[0], len(order))))
