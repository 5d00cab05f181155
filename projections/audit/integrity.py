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

The checks themselves (`check_sequences`, `compare_tables`, `replay_tables`,
`live_tables`) are pure; `verify` does the reading: the read model in one
REPEATABLE READ transaction, then the log once, from offset 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from refnet.events.errors import LogUnavailable, RefNetError
from refnet.events.settings import Settings
from refnet.projections.audit.log_reader import LogRecord, log_ends
from refnet.projections.audit.replay import Replay, classified_chunks
from refnet.projections.audit.sequence_accounting import Explained, SequenceLedger, account, count
from refnet.projections.audit.sequence_ledger import read_ledger
from refnet.projections.audit.snapshot import DERIVED, snapshot
from refnet.projections.store.database import Conn, connect_pool
from refnet.projections.store.outcomes import DeadLetter, Incoming
from refnet.projections.store.schema import TABLE_KEYS, TIME_COLUMNS
from refnet.projections.worker.catchup import CatchUpTimeout, wait_caught_up
from refnet.projections.worker.lag import stored_offsets
from refnet.projections.worker.projector import Record
from refnet.projections.worker.signatures import KeyRing

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

KINDS = (
    *RECORD_KINDS,
    GAP,
    UNUSED,
    REPEAT,
    RESEND,
    REORDERING,
    LAG,
    AHEAD,
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


def numbered(record: LogRecord | Record) -> Numbered | None:
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
        findings.extend(_reorderings(publisher, mine))
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


def _reorderings(publisher: str, entries: list[Numbered]) -> list[Finding]:
    """A number below one seen earlier in the same partition; repeats are reported apart."""
    by_partition: dict[int, list[Numbered]] = defaultdict(list)
    for entry in entries:
        by_partition[entry.partition].append(entry)
    findings: list[Finding] = []
    for partition in sorted(by_partition):
        highest: Numbered | None = None
        seen: set[int] = set()
        for entry in sorted(by_partition[partition], key=lambda e: e.offset):
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


# ------------------------------------------------------ comparing the tables

Row = dict[str, Any]


@dataclass(frozen=True)
class RowDifference:
    key: tuple[Any, ...]
    columns: dict[str, tuple[Any, Any]]  # column -> (live, replay)


@dataclass(frozen=True)
class TableComparison:
    table: str
    key_columns: tuple[str, ...]
    live_rows: int
    replay_rows: int
    only_live: list[Row]
    only_replay: list[Row]
    differing: list[RowDifference]

    @property
    def equal(self) -> bool:
        return not (self.only_live or self.only_replay or self.differing)

    def findings(self) -> list[Finding]:
        kind = f"table {self.table}"
        found = [
            Finding(
                kind, f"{self.table}: only in the live model: {self._key(r)}", detail={"row": r}
            )
            for r in self.only_live
        ]
        found += [
            Finding(kind, f"{self.table}: only in the replay: {self._key(r)}", detail={"row": r})
            for r in self.only_replay
        ]
        for diff in self.differing:
            changes = "; ".join(
                f"{column}: live {_show(live)}, replay {_show(replay)}"
                for column, (live, replay) in diff.columns.items()
            )
            key = ", ".join(f"{c}={v}" for c, v in zip(self.key_columns, diff.key, strict=True))
            columns = {c: {"live": lv, "replay": rv} for c, (lv, rv) in diff.columns.items()}
            found.append(
                Finding(
                    kind,
                    f"{self.table}: row {key} differs: {changes}",
                    detail={"key": dict(zip(self.key_columns, diff.key, strict=True))}
                    | {"columns": columns},
                )
            )
        return found

    def _key(self, row: Row) -> str:
        return ", ".join(f"{c}={row.get(c)}" for c in self.key_columns)


_SHOWN = 160  # characters of a value shown in a message; the JSON report has all of it


def _show(value: Any) -> str:
    text = repr(jsonable(value)) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def compare_table(
    table: str, key_columns: Sequence[str], live: Iterable[Row], replay: Iterable[Row]
) -> TableComparison:
    """Rows only in `live`, only in `replay`, and rows under one key whose columns differ."""
    keys = tuple(key_columns)
    live_by = {tuple(r.get(c) for c in keys): r for r in live}
    replay_by = {tuple(r.get(c) for c in keys): r for r in replay}
    differing: list[RowDifference] = []
    for key in sorted(live_by.keys() & replay_by.keys(), key=repr):
        a, b = live_by[key], replay_by[key]
        changed = {
            c: (a.get(c), b.get(c)) for c in sorted(a.keys() | b.keys()) if a.get(c) != b.get(c)
        }
        if changed:
            differing.append(RowDifference(key, changed))
    return TableComparison(
        table,
        keys,
        len(live_by),
        len(replay_by),
        [live_by[k] for k in sorted(live_by.keys() - replay_by.keys(), key=repr)],
        [replay_by[k] for k in sorted(replay_by.keys() - live_by.keys(), key=repr)],
        differing,
    )


def compare_tables(
    live: Mapping[str, list[Row]], replay: Mapping[str, list[Row]]
) -> list[TableComparison]:
    """Every table of TABLE_KEYS compared; a table missing on one side counts as empty."""
    return [
        compare_table(table, keys, live.get(table, []), replay.get(table, []))
        for table, keys in TABLE_KEYS.items()
    ]


def _as_stored(row: Row) -> Row:
    """A fold row with its times as the timestamptz values the database returns."""
    return {
        c: datetime.fromisoformat(v) if c in TIME_COLUMNS and isinstance(v, str) else v
        for c, v in row.items()
    }


def replay_tables(replay: Replay) -> dict[str, list[Row]]:
    """The replay's rows in the live model's shape and value types."""
    tables: dict[str, list[Row]] = {t: [] for t in TABLE_KEYS}
    for state in replay.states.values():
        # The store writes a state once an event was applied or rejected: every replayed one.
        tables["participant_state"].append(
            {"participant_id": state.participant_id, "facts": json.loads(state.to_json())}
        )
    for rows in replay.rows():
        derived = [rows.participant, *rows.referrals, *rows.trainings, *rows.links]
        for row in derived:
            tables[row.TABLE].append(
                _as_stored(dict(zip(row.columns(), row.values(), strict=True)))
            )
    for rejection in replay.stored_rejections():
        values = dict(zip(rejection.columns(), rejection.values(), strict=True))
        tables["rejections"].append(_as_stored(values))
    tables["dead_letters"] = [
        {
            "partition": d.position.partition,
            "offset": d.position.offset,
            "event_id": d.event_id,
            "reason": d.reason,
        }
        for d in replay.dead_letters
    ]
    return tables


def live_tables(
    rows: Mapping[str, list[tuple[Any, ...]]],
    columns: Mapping[str, Sequence[str]],
    dead_letters: Iterable[Mapping[str, Any]],
) -> dict[str, list[Row]]:
    """`snapshot` rows (tuples) named by their `columns`; jsonb state parsed."""
    tables: dict[str, list[Row]] = {}
    for table, tuples in rows.items():
        names = list(columns[table])
        tables[table] = [dict(zip(names, values, strict=True)) for values in tuples]
    for row in tables.get("participant_state", []):
        if isinstance(row.get("facts"), str):
            row["facts"] = json.loads(row["facts"])
    tables["dead_letters"] = [
        {c: letter[c] for c in ("partition", "offset", "event_id", "reason")}
        for letter in dead_letters
    ]
    return tables


# ------------------------------------------------------------- the reading


@dataclass
class ModelSnapshot:
    """What the live read model held at one instant, and how its wait ended."""

    schema: str
    offsets: dict[int, int]
    tables: dict[str, list[Row]]
    caught_up: bool


@dataclass
class LogScan:
    """What one read of the log found."""

    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    numbered: list[Numbered] = field(default_factory=list)
    replay: Replay | None = None


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


CHUNK = 2_000  # records judged, then folded, at a time


def scan_log(
    settings: Settings,
    keys: KeyRing,
    ends: Mapping[int, int],
    replay_to: Mapping[int, int] | None,
    on_progress: Callable[[int], None] | None = None,
) -> LogScan:
    """Read the log once: judge every record, note its numbers, replay up to `replay_to`.

    Every record is judged once, by the projection's own `classify`; those below
    `replay_to` are then folded by the replay, the rest only checked.
    """
    scan = LogScan()
    replay = Replay(keys, ends=dict.fromkeys(replay_to, 0)) if replay_to is not None else None
    limit = replay_to or {}
    for chunk, judged in classified_chunks(settings, keys, dict(ends)):
        to_fold: list[Incoming] = []
        for record, incoming in zip(chunk, judged, strict=True):
            if isinstance(incoming.item, DeadLetter):
                scan.findings.append(record_finding(incoming.item))
            else:
                # Only a verified signature makes a record's publisher and number believable.
                entry = numbered(record)
                if entry is not None:
                    scan.numbered.append(entry)
            if record.offset < limit.get(record.partition, 0):
                to_fold.append(incoming)
        scan.records += len(chunk)
        if replay is not None:
            replay.fold(to_fold)
        if on_progress is not None:
            on_progress(len(chunk))
    scan.findings.sort(key=lambda f: (f.partition or 0, f.offset or 0))
    scan.replay = replay
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
    tables = live_tables(rows, columns, [dict(r) for r in letters])
    return ModelSnapshot(settings.read_model_schema, offsets, tables, caught_up)


async def _wait(conn: Conn, settings: Settings, seconds: float) -> bool:
    """Wait for the projection to catch up; False if it has not within `seconds`."""
    try:
        await wait_caught_up(conn, settings, timeout=seconds)
    except CatchUpTimeout:
        return False
    except LogUnavailable as exc:
        raise CannotVerify(str(exc)) from exc
    return True


async def keys_and_model(
    settings: Settings, keys: KeyRing | None, wait_seconds: float, with_model: bool
) -> tuple[KeyRing, ModelSnapshot | None]:
    """The key ring (the registry's unless given) and, if wanted, the read model's snapshot."""
    if keys is not None and not with_model:
        return keys, None
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
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
    except asyncpg.PostgresError as exc:
        raise CannotVerify(f"reading the read model failed: {exc}") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise CannotVerify(f"lost the connection to PostgreSQL: {exc}") from exc
    finally:
        await pool.close()


async def unused_ledger(settings: Settings) -> SequenceLedger:
    """The registry's record of unused numbers and abandoned blocks."""
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await read_ledger(conn)
    except asyncpg.UndefinedTableError:
        return SequenceLedger()  # a registry older than the record: nothing is accounted
    except asyncpg.PostgresError as exc:
        raise CannotVerify(f"reading the unused sequence numbers failed: {exc}") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise CannotVerify(f"lost the connection to PostgreSQL: {exc}") from exc
    finally:
        await pool.close()


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
    scan = await asyncio.to_thread(scan_log, settings, ring, ends, replay_to, on_progress)
    # Read after the log: a number given up while the log was read is then explained.
    ledger = await unused_ledger(settings) if keys is None or with_model else None
    sequences = check_sequences(scan.numbered, ledger)
    findings = list(scan.findings) + [f for f in sequences if f.kind != UNUSED]
    comparisons: list[TableComparison] = []
    if model is not None and scan.replay is not None:
        findings += model_findings(model, ends)
        comparisons = compare_tables(model.tables, replay_tables(scan.replay))
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
        replayed=scan.replay.records if scan.replay is not None else 0,
        comparisons=comparisons,
        findings=list(_ordered(findings)),
        seconds=time.perf_counter() - started,
        notes=[SEQUENCE_NOTE, GAP_NOTE] + ([] if ledger is not None else [LEDGER_NOTE]),
        accounted=[f for f in sequences if f.kind == UNUSED],
    )


def _ordered(findings: list[Finding]) -> Iterator[Finding]:
    for group in grouped(findings).values():
        yield from group
