"""Proving the log and the read model intact: what `refnet audit verify` checks.

Three checks, each a list of findings (an empty list is the proof):

- every record decodes, is valid and carries a signature a registered key
  vouches for (the projection's own `classify`);
- each publisher's sequence numbers run from 0 without a gap, without a number
  used twice, and rising within each partition; an absent number the registry
  accounts for (recorded unused, or in a block a crashed gateway abandoned) is
  reported apart, as unused, and is no discrepancy;
- the live read model equals a replay of the log up to the offsets the model
  has applied, table by table.

The checks themselves (`check_sequences`, `PartwiseComparison`, `replay_tables`,
`live_tables`) are pure; `verify` does the reading: the read model in one
REPEATABLE READ transaction, then the log once, from offset 0.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from refnet.events.errors import LogUnavailable
from refnet.events.settings import Settings
from refnet.projections.audit.findings import (
    _DEAD_LETTERS,
    AHEAD,
    COUNTS,
    GAP_NOTE,
    LAG,
    LEDGER_NOTE,
    SEQUENCE_NOTE,
    UNUSED,
    CannotVerify,
    Finding,
    grouped,
)
from refnet.projections.audit.log_replay import LogReplay
from refnet.projections.audit.sequence_accounting import SequenceLedger
from refnet.projections.audit.sequence_ledger import read_ledger
from refnet.projections.audit.sequences import Numbered, check_sequences, numbered, record_finding
from refnet.projections.audit.snapshot import DERIVED, snapshot
from refnet.projections.audit.tables import (
    PartwiseComparison,
    Row,
    TableComparison,
    live_tables,
    replay_tables,
)
from refnet.projections.store.counts import count_drift
from refnet.projections.store.database import Conn, connect_pool
from refnet.projections.store.outcomes import DeadLetter, Incoming
from refnet.projections.worker.catchup import CatchUpTimeout, wait_caught_up
from refnet.projections.worker.lag import stored_offsets
from refnet.projections.worker.log_reader import log_ends
from refnet.projections.worker.projector import Record
from refnet.projections.worker.signatures import KeyRing

# ------------------------------------------------------------- the reading


@dataclass
class ModelSnapshot:
    """What the live read model held at one instant, and how its wait ended."""

    schema: str
    offsets: dict[int, int]
    tables: dict[str, list[Row]]
    caught_up: bool
    count_drift: list[str] = field(default_factory=list)  # kept counts that differ from the rows


@dataclass
class LogScan:
    """What one read of the log found."""

    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    numbered: list[Numbered] = field(default_factory=list)
    replayed: int = 0  # records folded (those below `replay_to`)
    comparisons: list[TableComparison] = field(default_factory=list)


@dataclass
class IntegrityReport:
    topic: str
    log_ends: dict[int, int]
    records: int
    verified: int  # records whose signature holds
    publishers: dict[str, int]  # events per publisher
    model: ModelSnapshot | None  # None: the log alone was checked
    replayed: int
    comparisons: list[TableComparison]
    findings: list[Finding]
    seconds: float
    notes: list[str]
    accounted: list[Finding] = field(default_factory=list)  # UNUSED: explained, not discrepancies

    @property
    def intact(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        model = None
        if self.model is not None:
            model = {
                "schema": self.model.schema,
                "offsets": self.model.offsets,
                "caught_up": self.model.caught_up,
                "replayed": self.replayed,
                "tables": {
                    c.table: {"live": c.live_rows, "replay": c.replay_rows, "equal": c.equal}
                    for c in self.comparisons
                },
            }
        return {
            "intact": self.intact,
            "topic": self.topic,
            "log_ends": self.log_ends,
            "records": self.records,
            "verified": self.verified,
            "publishers": self.publishers,
            "read_model": model,
            "discrepancies": [f.as_json() for f in self.findings],
            "counts": {kind: len(found) for kind, found in grouped(self.findings).items()},
            "unused": [f.as_json() for f in self.accounted],
            "unused_numbers": sum(f.detail["unused"] for f in self.accounted),
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def scan_log(
    settings: Settings,
    keys: KeyRing,
    ends: Mapping[int, int],
    replay_to: Mapping[int, int] | None,
    on_progress: Callable[[int], None] | None = None,
    live: Mapping[str, list[Row]] | None = None,
) -> LogScan:
    """Read the log once: judge every record, note its numbers, replay up to `replay_to`.

    Every record is judged once, by the projection's own `classify`; those below
    `replay_to` are then folded, a part of the log at a time, the rest only
    checked. With `live` (the read model's tables) each part's rows are compared
    with them and let go, so no more than one part's states are held.
    """
    scan = LogScan()

    def judge(chunk: list[Record], judged: list[Incoming]) -> None:
        for record, incoming in zip(chunk, judged, strict=True):
            if isinstance(incoming.item, DeadLetter):
                scan.findings.append(record_finding(incoming.item))
            else:
                # Only a verified signature makes a record's publisher and number believable.
                entry = numbered(record)
                if entry is not None:
                    scan.numbered.append(entry)
        scan.records += len(chunk)

    replay = LogReplay(
        settings,
        keys,
        dict(ends),
        on_progress,
        fold_to=dict(replay_to) if replay_to is not None else {},
        on_chunk=judge,
    )
    compared = PartwiseComparison(live) if live is not None else None
    for part in replay.parts():
        if compared is not None:
            compared.add(replay_tables(part, replay.stored_rejections(part)))
    scan.findings.sort(key=lambda f: (f.partition or 0, f.offset or 0))
    if replay_to is not None:
        scan.replayed = replay.records
        scan.comparisons = compared.comparisons() if compared is not None else []
    return scan


async def _table_columns(conn: Conn) -> dict[str, list[str]]:
    """The column names of each `snapshot` query, read from the prepared statements."""
    columns: dict[str, list[str]] = {}
    for table, sql in DERIVED.items():
        statement = await conn.prepare(sql)
        columns[table] = [attribute.name for attribute in statement.get_attributes()]
    return columns


async def read_model(conn: Conn, settings: Settings, caught_up: bool) -> ModelSnapshot:
    """Offsets, derived rows and dead letters, all from one REPEATABLE READ snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        offsets = await stored_offsets(conn, settings.topic_events)
        rows = await snapshot(conn)
        columns = await _table_columns(conn)
        letters = await conn.fetch(_DEAD_LETTERS, settings.topic_events)
        drift = await count_drift(conn)
    tables = live_tables(rows, columns, [dict(r) for r in letters])
    return ModelSnapshot(settings.read_model_schema, offsets, tables, caught_up, drift)


async def _wait(conn: Conn, settings: Settings, seconds: float) -> bool:
    """Wait for the projection to catch up; False if it has not within `seconds`."""
    try:
        await wait_caught_up(conn, settings, timeout=seconds)
    except CatchUpTimeout:
        return False
    except LogUnavailable as exc:
        raise CannotVerify(str(exc)) from exc
    return True


@asynccontextmanager
async def _reading(settings: Settings, what: str) -> AsyncIterator[Conn]:
    """One connection for reading `what`; a database failure becomes `CannotVerify`.

    A missing table passes through: what it means is the caller's to say.
    """
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            yield conn
    except asyncpg.UndefinedTableError:
        raise
    except asyncpg.PostgresError as exc:
        raise CannotVerify(f"reading {what} failed: {exc}") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise CannotVerify(f"lost the connection to PostgreSQL: {exc}") from exc
    finally:
        await pool.close()


async def keys_and_model(
    settings: Settings, keys: KeyRing | None, wait_seconds: float, with_model: bool
) -> tuple[KeyRing, ModelSnapshot | None]:
    """The key ring (the registry's unless given) and, if wanted, the read model's snapshot."""
    if keys is not None and not with_model:
        return keys, None
    try:
        async with _reading(settings, "the read model") as conn:
            ring = keys if keys is not None else await KeyRing.load(conn)
            if not with_model:
                return ring, None
            caught_up = await _wait(conn, settings, wait_seconds)
            return ring, await read_model(conn, settings, caught_up)
    except asyncpg.UndefinedTableError as exc:
        raise CannotVerify(
            f"{exc} (schemas {settings.read_model_schema}, {settings.registry_schema}): "
            "has a projection worker run against this database?"
        ) from exc


async def unused_ledger(settings: Settings) -> SequenceLedger:
    """The registry's record of unused numbers and abandoned blocks."""
    try:
        async with _reading(settings, "the unused sequence numbers") as conn:
            return await read_ledger(conn)
    except asyncpg.UndefinedTableError:
        return SequenceLedger()  # a registry older than the record: nothing is accounted


def model_findings(model: ModelSnapshot, ends: Mapping[int, int]) -> list[Finding]:
    """Lag after the wait, and offsets beyond the log's end (a recreated topic)."""
    findings: list[Finding] = []
    behind = sum(max(0, end - model.offsets.get(p, 0)) for p, end in ends.items())
    if not model.caught_up and behind:
        findings.append(
            Finding(
                LAG,
                f"read model {behind} events behind the log when the wait ended; "
                "the replay stops where the model stands (is the worker running?)",
                detail={"behind": behind},
            )
        )
    findings += [
        Finding(COUNTS, f"a kept count differs from its rows: {line}", detail={"count": line})
        for line in model.count_drift
    ]
    for partition, offset in sorted(model.offsets.items()):
        end = ends.get(partition)
        if end is None or offset > end:
            findings.append(
                Finding(
                    AHEAD,
                    f"read model at offset {offset} of partition {partition}, but the log "
                    f"ends at {end or 0}: was the topic recreated?",
                    partition,
                    offset,
                    detail={"log_end": end},
                )
            )
    return findings


async def verify(
    settings: Settings,
    keys: KeyRing | None = None,
    wait_seconds: float = 60.0,
    with_model: bool = True,
    on_log_ends: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IntegrityReport:
    """Run every check; raises CannotVerify (or another RefNetError) when it cannot."""
    started = time.perf_counter()
    ring, model = await keys_and_model(settings, keys, wait_seconds, with_model)
    # Read after the model's snapshot: the log then holds at least what the model applied.
    ends = await asyncio.to_thread(log_ends, settings)
    if on_log_ends is not None:
        on_log_ends(sum(ends.values()))
    replay_to = None
    if model is not None:
        replay_to = {p: min(model.offsets.get(p, 0), end) for p, end in ends.items()}
    live = model.tables if model is not None else None
    scan = await asyncio.to_thread(scan_log, settings, ring, ends, replay_to, on_progress, live)
    # Read after the log: a number given up while the log was read is then explained.
    ledger = await unused_ledger(settings) if keys is None or with_model else None
    sequences = check_sequences(scan.numbered, ledger)
    findings = list(scan.findings) + [f for f in sequences if f.kind != UNUSED]
    comparisons: list[TableComparison] = []
    if model is not None:
        findings += model_findings(model, ends)
        comparisons = scan.comparisons
        for comparison in comparisons:
            findings += comparison.findings()
    publishers: dict[str, int] = defaultdict(int)
    for entry in scan.numbered:
        publishers[entry.publisher_id] += 1
    return IntegrityReport(
        topic=settings.topic_events,
        log_ends=dict(ends),
        records=scan.records,
        verified=len(scan.numbered),
        publishers=dict(sorted(publishers.items())),
        model=model,
        replayed=scan.replayed,
        comparisons=comparisons,
        findings=list(_ordered(findings)),
        seconds=time.perf_counter() - started,
        notes=[SEQUENCE_NOTE, GAP_NOTE] + ([] if ledger is not None else [LEDGER_NOTE]),
        accounted=[f for f in sequences if f.kind == UNUSED],
    )


def _ordered(findings: list[Finding]) -> Iterator[Finding]:
    for group in grouped(findings).values():
        yield from group
