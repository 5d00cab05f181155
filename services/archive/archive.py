"""Archives of the event log: what a funder keeps for years, and how it comes back.

An archive is a folder: one gzip-compressed JSON Lines file per partition (every
record from offset 0, its exact key and value bytes and its Kafka timestamp), the
registered public keys, and a manifest with each file's SHA-256 and a chain hash
over them all. Standard formats only (gzip, JSON, SHA-256), so it can be
checked by hand in decades; the README's "Archives" section describes the format.

The format, the writer and the verifier work on files alone (unit-testable);
`export_archive` and `restore_archive` add the broker and the registry.

    RefNetError         (refnet.events.errors)
    └── ArchiveError    an archive cannot be written, read or restored
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gzip
import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from refnet.events.codec import decode
from refnet.events.errors import EventInvalid, EventUndecodable, LogUnavailable, RefNetError
from refnet.events.fields import format_utc
from refnet.events.kafka_client import client_config
from refnet.events.publisher import produce, producer_config
from refnet.events.settings import Settings
from refnet.events.signing import KeyUnusable, key_id_of, parse_public_key
from refnet.projections.audit.log_reader import LogRecord, log_ends, read_log
from refnet.projections.store.database import connect_pool
from refnet.projections.store.migrate import migrate
from refnet.projections.worker.signatures import KeyRing
from refnet.services.kafka.topics import ensure_topics, high_watermarks
from refnet.services.registry.keys import KeysRestored, restore_keys

FORMAT = "refnet-archive/1"
MANIFEST_NAME = "manifest.json"
KEYS_NAME = "keys.json"
COMPRESS_LEVEL = 6  # zlib's default: close to the best ratio at several times level 9's speed
CHUNK_BYTES = 1 << 20  # lines handed to zlib at once
MAX_FINDINGS_PER_FILE = 100  # a file wrong throughout is named, not listed line by line
_TEMP_SUFFIX = ".partial"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Progress = Callable[[int], None]


class ArchiveError(RefNetError):
    """An archive cannot be written, read or restored."""


# ------------------------------------------------------------------ lines


class RecordLike(Protocol):
    """What a line is made from: a `LogRecord`, or an `ArchivedRecord` read back."""

    @property
    def offset(self) -> int: ...
    @property
    def timestamp_ms(self) -> int | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None


class LineInvalid(ValueError):
    """A line of a partition file that is not a record in the archive's form."""


def partition_file_name(partition: int) -> str:
    return f"partition-{partition:05d}.jsonl.gz"


def _bytes_fields(name: str, raw: bytes | None) -> dict[str, Any]:
    """`name` as UTF-8 text when the bytes are text, else `name_b64`; null when absent."""
    if raw is None:
        return {name: None}
    try:
        return {name: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": base64.b64encode(raw).decode("ascii")}


def encode_line(record: RecordLike) -> bytes:
    """One record as one line of ASCII JSON (escaped, so no reader ever splits it)."""
    fields: dict[str, Any] = {"offset": record.offset, "timestamp_ms": record.timestamp_ms}
    fields |= _bytes_fields("key", record.key)
    fields |= _bytes_fields("value", record.value)
    return json.dumps(fields, separators=(",", ":")).encode("ascii") + b"\n"


_LINE_FIELDS = {"offset", "timestamp_ms", "key", "key_b64", "value", "value_b64"}


def _whole_number(fields: Mapping[str, Any], name: str, nullable: bool) -> int | None:
    if name not in fields:
        raise LineInvalid(f"{name}: missing")
    value = fields[name]
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LineInvalid(f"{name}: expected a whole number >= 0, got {value!r}")
    return value


def _bytes_of(fields: Mapping[str, Any], name: str) -> bytes | None:
    encoded = f"{name}_b64"
    if (name in fields) == (encoded in fields):
        raise LineInvalid(f"{name}: expected exactly one of {name} and {encoded}")
    if name in fields:
        text = fields[name]
        if text is not None and not isinstance(text, str):
            raise LineInvalid(f"{name}: expected text or null, got {type(text).__name__}")
        return None if text is None else text.encode("utf-8")
    try:
        return base64.b64decode(str(fields[encoded]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LineInvalid(f"{encoded}: not standard base64: {exc}") from exc


def decode_line(line: bytes) -> ArchivedRecord:
    """The record a line holds; raises LineInvalid naming the field and the reason."""
    try:
        fields = json.loads(line)
    except ValueError as exc:
        raise LineInvalid(f"not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise LineInvalid("not a JSON object")
    unknown = sorted(set(fields) - _LINE_FIELDS)
    if unknown:
        raise LineInvalid(f"{unknown[0]}: unknown field")
    offset = _whole_number(fields, "offset", nullable=False)
    assert offset is not None
    stamp = _whole_number(fields, "timestamp_ms", nullable=True)
    return ArchivedRecord(offset, stamp, _bytes_of(fields, "key"), _bytes_of(fields, "value"))


# --------------------------------------------------------------- manifest


def chain_hash(files: Sequence[tuple[str, str]]) -> str:
    """h0 = SHA-256(format name); h_i = SHA-256(h_{i-1} + file SHA-256 + file name).

    Over (name, SHA-256 hex) pairs in order, all as lowercase hex text, so
    `printf '%s%s%s' "$h" "$sha" "$name" | sha256sum` recomputes each step.
    """
    chained = hashlib.sha256(FORMAT.encode()).hexdigest()
    for name, digest in files:
        chained = hashlib.sha256(f"{chained}{digest}{name}".encode()).hexdigest()
    return chained


@dataclass(frozen=True)
class FileEntry:
    """One partition's file, as the manifest describes it."""

    name: str
    partition: int
    first_offset: int
    end_offset: int  # exclusive: the next offset after the file's last record
    records: int
    compressed_bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    topic: str
    created_at: str
    until: str | None
    log_ends: list[int]  # each partition's end when the export started, by partition
    files: list[FileEntry]
    keys_sha256: str
    keys_count: int
    format: str = FORMAT
    keys_file: str = KEYS_NAME

    @property
    def partitions(self) -> int:
        return len(self.log_ends)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def chained(self) -> list[tuple[str, str]]:
        """What the chain hash runs over: the files in the order listed, then the keys."""
        return [(f.name, f.sha256) for f in self.files] + [(self.keys_file, self.keys_sha256)]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "created_at": self.created_at,
            "topic": self.topic,
            "partitions": self.partitions,
            "until": self.until,
            "log_ends": self.log_ends,
            "records": self.records,
            "files": [asdict(f) for f in self.files],
            "keys": {"name": self.keys_file, "count": self.keys_count, "sha256": self.keys_sha256},
            "chain_sha256": chain_hash(self.chained),
        }


def _get(fields: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in fields:
        raise ArchiveError(f"{MANIFEST_NAME}: {name}: missing")
    value = fields[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ArchiveError(f"{MANIFEST_NAME}: {name}: unexpected value {value!r}")
    return value


def _file_entry(fields: Any, index: int) -> FileEntry:
    if not isinstance(fields, dict):
        raise ArchiveError(f"{MANIFEST_NAME}: files[{index}]: not an object")
    ints = ("partition", "first_offset", "end_offset", "records", "compressed_bytes")
    values = {n: _get(fields, n, int) for n in ints}
    return FileEntry(_get(fields, "name", str), sha256=_get(fields, "sha256", str), **values)


def parse_manifest(text: bytes) -> tuple[Manifest, str]:
    """The manifest and the chain hash it states; ArchiveError names what is wrong."""
    try:
        fields = json.loads(text)
    except ValueError as exc:
        raise ArchiveError(f"{MANIFEST_NAME}: not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise ArchiveError(f"{MANIFEST_NAME}: not a JSON object")
    if fields.get("format") != FORMAT:
        raise ArchiveError(f"{MANIFEST_NAME}: format: {fields.get('format')!r} is not {FORMAT}")
    ends = _get(fields, "log_ends", list)
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in ends):
        raise ArchiveError(f"{MANIFEST_NAME}: log_ends: expected whole numbers")
    if _get(fields, "partitions", int) != len(ends):
        raise ArchiveError(f"{MANIFEST_NAME}: partitions: does not match log_ends")
    keys = _get(fields, "keys", dict)
    manifest = Manifest(
        topic=_get(fields, "topic", str),
        created_at=_get(fields, "created_at", str),
        until=_get(fields, "until", (str, type(None))),
        log_ends=ends,
        files=[_file_entry(f, i) for i, f in enumerate(_get(fields, "files", list))],
        keys_sha256=_get(keys, "sha256", str),
        keys_count=_get(keys, "count", int),
        keys_file=_get(keys, "name", str),
    )
    if _get(fields, "records", int) != manifest.records:
        raise ArchiveError(f"{MANIFEST_NAME}: records: is not the sum of the files' records")
    return manifest, _get(fields, "chain_sha256", str)


# ----------------------------------------------------------------- writing


def sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + _TEMP_SUFFIX)
    with temp.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    temp.rename(path)


def check_folder(folder: Path) -> None:
    """Refuse a target that is a file or a directory already holding anything."""
    if folder.exists() and not folder.is_dir():
        raise ArchiveError(f"{folder} is not a directory")
    if folder.is_dir() and any(folder.iterdir()):
        raise ArchiveError(f"{folder} is not empty: give a new or empty directory")


def prepare_folder(folder: Path) -> None:
    """Create `folder` for a new archive; refuse one that is a file or not empty."""
    check_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)


class _PartitionWriter:
    """Writes one partition's file under a temporary name; `finish` renames it."""

    def __init__(self, folder: Path, partition: int) -> None:
        self.partition = partition
        self.path = folder / partition_file_name(partition)
        self.temp = self.path.with_name(self.path.name + _TEMP_SUFFIX)
        self._raw = self.temp.open("wb")
        # No name or time in the gzip header: the same records give the same bytes.
        self._gzip = gzip.GzipFile("", "wb", COMPRESS_LEVEL, self._raw, mtime=0)
        self._pending: list[bytes] = []  # lines go to zlib in chunks: one call per line is slow
        self._pending_bytes = 0
        self.next_offset = 0

    def write(self, record: RecordLike) -> None:
        if record.offset != self.next_offset:
            raise ArchiveError(
                f"partition {self.partition}: offset {record.offset} read where "
                f"{self.next_offset} was due; the archive would not be a clean prefix"
            )
        line = encode_line(record)
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= CHUNK_BYTES:
            self._flush()
        self.next_offset += 1

    def _flush(self) -> None:
        self._gzip.write(b"".join(self._pending))
        self._pending.clear()
        self._pending_bytes = 0

    def finish(self) -> FileEntry:
        self._flush()
        self._gzip.close()  # writes the gzip trailer; the file itself stays open
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        self.temp.rename(self.path)
        size, records = self.path.stat().st_size, self.next_offset
        digest = sha256_of(self.path)
        return FileEntry(self.path.name, self.partition, 0, records, records, size, digest)

    def discard(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # half-written: only its removal matters
            self._gzip.close()
        self._raw.close()
        self.temp.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def write_archive(
    folder: Path,
    topic: str,
    ends: Mapping[int, int],
    records: Iterable[LogRecord],
    keys: Sequence[Mapping[str, Any]],
    log_ends_at_start: Mapping[int, int] | None = None,
    until: datetime | None = None,
) -> Manifest:
    """Write `records` (offset order within each partition) as an archive in `folder`.

    `ends` says where each partition's file must end (exclusive); a partition
    that does not reach it is an error and nothing is left behind. The manifest
    is written last, so a folder without one is an unfinished archive.
    """
    prepare_folder(folder)
    created_at = datetime.now(UTC)
    writers = {p: _PartitionWriter(folder, p) for p in sorted(ends)}
    try:
        for record in records:
            writers[record.partition].write(record)
        short = [w for p, w in writers.items() if w.next_offset != ends[p]]
        if short:
            w = short[0]
            raise ArchiveError(
                f"partition {w.partition} ended at offset {w.next_offset}, not {ends[w.partition]}"
            )
        entries = [writers[p].finish() for p in sorted(writers)]
        keys_bytes = (json.dumps(list(keys), indent=2, sort_keys=True) + "\n").encode()
        _write_atomically(folder / KEYS_NAME, keys_bytes)
        manifest = Manifest(
            topic=topic,
            created_at=format_utc(created_at),
            until=format_utc(until) if until is not None else None,
            log_ends=[(log_ends_at_start or ends)[p] for p in sorted(ends)],
            files=entries,
            keys_sha256=hashlib.sha256(keys_bytes).hexdigest(),
            keys_count=len(keys),
        )
        text = json.dumps(manifest.to_json(), indent=2) + "\n"
        _write_atomically(folder / MANIFEST_NAME, text.encode())
        return manifest
    except BaseException:
        for writer in writers.values():
            writer.discard()
        (folder / KEYS_NAME).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Finding:
    """Something wrong in an archive, or worth noting, named by file and line."""

    file: str
    reason: str
    line: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.offset is not None:
            where += f" (offset {self.offset})"
        return f"{where}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Verification:
    """What `verify_archive` found.

    `problems` break the archive (a file changed, missing, extra, unreadable);
    `bad_signatures` are events whose signature the archive's keys do not
    verify; `not_events` are records that are no event at all (the projections
    dead-letter them), kept as the log held them and only noted.
    """

    folder: Path
    manifest: Manifest | None = None
    problems: list[Finding] = field(default_factory=list)
    bad_signatures: list[Finding] = field(default_factory=list)
    not_events: list[Finding] = field(default_factory=list)
    records: int = 0
    events: int = 0
    signatures_checked: bool = False

    @property
    def files_intact(self) -> bool:
        return not self.problems

    @property
    def intact(self) -> bool:
        return not self.problems and not self.bad_signatures

    def to_json(self) -> dict[str, Any]:
        manifest = self.manifest
        return {
            "archive": str(self.folder),
            "intact": self.intact,
            "files_intact": self.files_intact,
            "format": manifest.format if manifest else None,
            "topic": manifest.topic if manifest else None,
            "until": manifest.until if manifest else None,
            "files": len(manifest.files) if manifest else 0,
            "records": self.records,
            "events": self.events,
            "signatures_checked": self.signatures_checked,
            "chain_sha256": chain_hash(manifest.chained) if manifest else None,
            "problems": [f.to_json() for f in self.problems],
            "bad_signatures": [f.to_json() for f in self.bad_signatures],
            "not_events": [f.to_json() for f in self.not_events],
        }


class _FileCheck:
    """Walks one partition file's lines: offsets, counts and (optionally) signatures."""

    def __init__(self, entry: FileEntry, result: Verification, keys: KeyRing | None) -> None:
        self.entry, self.result, self.keys = entry, result, keys
        self.expected = entry.first_offset
        self.records = 0
        self.findings = 0

    def problem(self, reason: str, line: int | None = None, offset: int | None = None) -> None:
        self.findings += 1
        if self.findings <= MAX_FINDINGS_PER_FILE:
            self.result.problems.append(Finding(self.entry.name, reason, line, offset))
        elif self.findings == MAX_FINDINGS_PER_FILE + 1:
            self.result.problems.append(Finding(self.entry.name, "more problems not listed"))

    def line(self, number: int, raw: bytes) -> None:
        if not raw.endswith(b"\n"):
            self.problem("the last line does not end with a newline", number)
        try:
            record = decode_line(raw)
        except LineInvalid as exc:
            self.problem(f"not a record: {exc}", number)
            return
        self.records += 1
        if record.offset != self.expected:
            self.problem(f"offset {record.offset} where {self.expected} was due", number)
        self.expected = record.offset + 1
        if self.keys is not None:
            self._signature(number, record)

    def _signature(self, number: int, record: ArchivedRecord) -> None:
        def note(reason: str) -> Finding:
            return Finding(self.entry.name, reason, number, record.offset)

        if record.value is None:
            self.result.not_events.append(note("no value"))
            return
        try:
            event = decode(record.value)
        except (EventUndecodable, EventInvalid) as exc:
            self.result.not_events.append(note(f"not an event: {exc}"))
            return
        assert self.keys is not None
        self.result.events += 1
        reason = self.keys.problem(event)
        if reason is not None:
            self.result.bad_signatures.append(note(f"event {event.event_id}: {reason}"))

    def close(self) -> None:
        entry = self.entry
        if self.records != entry.records:
            self.problem(f"holds {self.records} records, the manifest says {entry.records}")
        if self.expected != entry.end_offset and self.records == entry.records:
            self.problem(f"ends at offset {self.expected}, the manifest says {entry.end_offset}")
        self.result.records += self.records


def _lines(path: Path) -> Iterator[bytes]:
    with gzip.open(path, "rb") as stream:
        yield from stream


def _check_file(
    folder: Path,
    entry: FileEntry,
    result: Verification,
    keys: KeyRing | None,
    on_progress: Progress | None,
) -> None:
    """Check one partition file: its bytes, then every line (a missing one is listed already)."""
    path = folder / entry.name
    if not path.is_file():
        return
    digest = sha256_of(path)
    if digest != entry.sha256:
        result.problems.append(
            Finding(entry.name, f"SHA-256 is {digest}, the manifest says {entry.sha256}")
        )
    size = path.stat().st_size
    if size != entry.compressed_bytes:
        result.problems.append(
            Finding(entry.name, f"is {size} bytes, the manifest says {entry.compressed_bytes}")
        )
    check = _FileCheck(entry, result, keys)
    number = 0
    try:
        for number, raw in enumerate(_lines(path), start=1):
            check.line(number, raw)
            if on_progress is not None and number % 10_000 == 0:
                on_progress(10_000)
    except (OSError, EOFError, zlib.error) as exc:
        check.problem(f"does not decompress after line {number}: {exc}")
    if on_progress is not None:
        on_progress(number % 10_000)
    check.close()


def _check_listing(folder: Path, manifest: Manifest, result: Verification) -> None:
    """Every file the manifest names is there, in partition order, and nothing else."""
    partitions = [f.partition for f in manifest.files]
    if partitions != list(range(manifest.partitions)):
        result.problems.append(
            Finding(
                MANIFEST_NAME,
                f"files cover partitions {partitions}, not 0..{manifest.partitions - 1} in order",
            )
        )
    for entry in manifest.files:
        if entry.first_offset != 0:
            result.problems.append(
                Finding(entry.name, f"starts at offset {entry.first_offset}, not 0")
            )
        log_end = dict(enumerate(manifest.log_ends)).get(entry.partition, -1)
        if entry.end_offset > log_end:
            result.problems.append(
                Finding(entry.name, f"ends at {entry.end_offset}, past the log's end {log_end}")
            )
    named = [f.name for f in manifest.files] + [manifest.keys_file, MANIFEST_NAME]
    present = {p.name for p in folder.iterdir()}
    for name in named:
        if name not in present:
            result.problems.append(Finding(name, "missing"))
    for name in sorted(present - set(named)):
        result.problems.append(Finding(name, "extra: not named in the manifest"))


def _load_keys(folder: Path, manifest: Manifest, result: Verification) -> KeyRing | None:
    """The archive's key ring; None when the keys file is missing or unusable."""
    path = folder / manifest.keys_file
    if not path.is_file():
        return None
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    name = manifest.keys_file
    if digest != manifest.keys_sha256:
        result.problems.append(
            Finding(name, f"SHA-256 is {digest}, the manifest says {manifest.keys_sha256}")
        )
    try:
        documents = key_list(data)
        if len(documents) != manifest.keys_count:
            raise ArchiveError(
                f"holds {len(documents)} keys, the manifest says {manifest.keys_count}"
            )
        return KeyRing.from_documents(documents)
    except (ArchiveError, KeyUnusable) as exc:
        result.problems.append(Finding(name, str(exc)))
        return None


def key_list(data: bytes) -> list[dict[str, Any]]:
    """The key documents of a keys file, each key id checked against its public key."""
    try:
        documents = json.loads(data)
    except ValueError as exc:
        raise ArchiveError(f"not JSON: {exc}") from exc
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        raise ArchiveError("not a JSON list of key objects")
    for index, document in enumerate(documents):
        try:
            derived = key_id_of(parse_public_key(str(document["public_key"])))
        except (KeyError, KeyUnusable) as exc:
            raise ArchiveError(f"key {index}: public_key: {exc}") from exc
        if derived != document.get("key_id"):
            raise ArchiveError(f"key {index}: key_id {document.get('key_id')!r} is not {derived}")
    return documents


def read_manifest(folder: Path) -> tuple[Manifest, str]:
    """The manifest of the archive in `folder` and the chain hash it states.

    Raises ArchiveError when the folder or its manifest is missing or malformed.
    """
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise ArchiveError(f"{folder} is not a directory")
    if not path.is_file():
        raise ArchiveError(f"{MANIFEST_NAME}: missing: not an archive, or an unfinished one")
    return parse_manifest(path.read_bytes())


def verify_archive(
    folder: Path, check_signatures: bool = True, on_progress: Progress | None = None
) -> Verification:
    """Check everything about the archive in `folder`; never raises for what it finds.

    Each file's SHA-256 is compared with the manifest's, and the chain over the
    manifest's hashes with its chain hash: together they bind every file's bytes,
    name and place to the one chain hash.
    """
    result = Verification(folder)
    if not folder.is_dir():
        result.problems.append(Finding(str(folder), "not a directory"))
        return result
    try:
        manifest, stated_chain = read_manifest(folder)
    except ArchiveError as exc:
        result.problems.append(Finding(MANIFEST_NAME, str(exc).removeprefix(f"{MANIFEST_NAME}: ")))
        return result
    result.manifest = manifest
    if chain_hash(manifest.chained) != stated_chain:
        result.problems.append(
            Finding(MANIFEST_NAME, "chain_sha256 does not match the files and keys it lists")
        )
    _check_listing(folder, manifest, result)
    keys = _load_keys(folder, manifest, result)
    result.signatures_checked = check_signatures and keys is not None
    ring = keys if result.signatures_checked else None
    for entry in manifest.files:
        _check_file(folder, entry, result, ring, on_progress)
    return result


def read_archive(folder: Path, entry: FileEntry) -> Iterator[ArchivedRecord]:
    """The records of one partition file, in offset order (verify the archive first)."""
    for raw in _lines(folder / entry.name):
        yield decode_line(raw)


# ---------------------------------------------------------------- exporting


def parse_until(text: str) -> datetime:
    """An ISO 8601 date or date-time, UTC when it has no offset; a date means its last moment."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) - timedelta(milliseconds=1)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ArchiveError(f"--until: {text!r} is not an ISO 8601 date or date-time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ends_until(settings: Settings, ends: Mapping[int, int], until: datetime) -> dict[int, int]:
    """Each partition's end (exclusive) of the prefix whose records are stamped at or before
    `until`: the first offset stamped later, found with the broker's time index."""
    stamp_ms = (until - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
    topic = settings.topic_events
    consumer = Consumer(
        client_config(settings)
        | {"group.id": f"{settings.consumer_group}-archive", "enable.auto.commit": False}
    )
    try:
        wanted = [TopicPartition(topic, p, stamp_ms + 1) for p in sorted(ends)]
        found = consumer.offsets_for_times(wanted, timeout=30)
    except KafkaException as exc:
        raise LogUnavailable(f"cannot look up offsets by time in {topic}: {exc}") from exc
    finally:
        consumer.close()
    cut = {}
    for tp in found:
        if tp.error is not None:
            raise LogUnavailable(f"{topic}[{tp.partition}]: {tp.error}")
        # -1: nothing stamped later, so the whole partition (as of the start) belongs.
        end = ends[tp.partition] if tp.offset < 0 else tp.offset
        cut[tp.partition] = min(end, ends[tp.partition])
    return cut


@dataclass(frozen=True)
class ExportPlan:
    """Where each partition's file ends, fixed before anything is read."""

    log_ends: dict[int, int]
    ends: dict[int, int]
    until: datetime | None

    @property
    def records(self) -> int:
        return sum(self.ends.values())


def plan_export(settings: Settings, until: datetime | None) -> ExportPlan:
    ends = log_ends(settings)
    cut = ends_until(settings, ends, until) if until is not None else dict(ends)
    return ExportPlan(ends, cut, until)


def export_archive(
    settings: Settings,
    folder: Path,
    plan: ExportPlan,
    keys: Sequence[Mapping[str, Any]],
    on_progress: Progress | None = None,
) -> Manifest:
    """Write the log's prefix given by `plan`, with `keys`, as an archive in `folder`."""
    records = read_log(settings, plan.ends, on_progress=on_progress)
    return write_archive(
        folder, settings.topic_events, plan.ends, records, keys, plan.log_ends, plan.until
    )


# ---------------------------------------------------------------- restoring


async def register_archive_keys(
    settings: Settings, documents: Sequence[Mapping[str, Any]]
) -> KeysRestored:
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            async with conn.transaction():
                return await restore_keys(conn, documents)
    finally:
        await pool.close()


def check_target_empty(settings: Settings, partitions: int) -> bool:
    """True if the event log topic exists (empty, with `partitions`); False if it does not.

    Refuses a topic holding records: restored offsets must start at 0.
    """
    topic = settings.topic_events
    ends = high_watermarks(settings, topic)
    if not ends:
        return False
    held = sum(ends.values())
    if held:
        raise ArchiveError(
            f"topic {topic} already holds {held} records: restore only into a topic that "
            "does not exist or is empty (set REFNET_TOPIC_EVENTS to a new name)"
        )
    if len(ends) != partitions:
        raise ArchiveError(
            f"topic {topic} has {len(ends)} partitions, the archive {partitions}: "
            "delete the empty topic or restore into a new one"
        )
    return True


def create_log_topic(settings: Settings, partitions: int) -> None:
    """Create the event log (and its dead-letter topic) as the stack does: unlimited retention."""
    ensure_topics(settings.model_copy(update={"topic_partitions": partitions}))


@dataclass
class _Deliveries:
    """Delivery reports, each checked to land at the offset the archive gave it."""

    next_offset: dict[int, int]
    on_progress: Progress | None
    delivered: int = 0
    failures: list[str] = field(default_factory=list)

    def report(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failures.append(str(err))
            return
        partition, offset = msg.partition(), msg.offset()
        assert partition is not None and offset is not None
        expected = self.next_offset[partition]
        if offset != expected:
            self.failures.append(
                f"partition {partition}: landed at offset {offset}, not {expected}"
            )
        self.next_offset[partition] = offset + 1
        self.delivered += 1
        if self.on_progress is not None:
            self.on_progress(1)


def restore_producer(settings: Settings) -> Producer:
    # Idempotence keeps order across retries with up to 5 requests in flight per partition.
    return Producer(
        producer_config(settings, **{"max.in.flight.requests.per.connection": 5, "linger.ms": 20})
    )


def produce_archive(
    settings: Settings, folder: Path, manifest: Manifest, on_progress: Progress | None = None
) -> int:
    """Produce every record to its original partition, in offset order, with its timestamp."""
    producer = restore_producer(settings)
    topic = settings.topic_events
    deliveries = _Deliveries(dict.fromkeys(range(manifest.partitions), 0), on_progress)
    for entry in manifest.files:
        for number, record in enumerate(read_archive(folder, entry), start=1):
            _produce(producer, topic, entry.partition, record, deliveries.report)
            if number % 10_000 == 0:
                producer.poll(0)  # serve delivery reports, so progress moves while producing
    left = producer.flush(120)
    failed = deliveries.failures + ([f"{left} records unconfirmed"] if left else [])
    if failed:
        raise ArchiveError(
            f"restore incomplete: {failed[0]} ({len(failed)} problems); {topic} now holds part "
            "of the archive: delete it before restoring again"
        )
    return deliveries.delivered


def _produce(
    producer: Producer,
    topic: str,
    partition: int,
    record: ArchivedRecord,
    report: Callable[[KafkaError | None, Message], None],
) -> None:
    produce(
        producer,
        topic,
        value=record.value,
        key=record.key,
        partition=partition,
        timestamp=record.timestamp_ms or 0,  # 0: the broker's clock (no stamp archived)
        on_delivery=report,
    )


@dataclass(frozen=True)
class Restored:
    topic: str
    partitions: int
    records: int
    keys: KeysRestored
    seconds: float


def check_restored_ends(settings: Settings, manifest: Manifest) -> None:
    ends = log_ends(settings)
    wanted = {f.partition: f.end_offset for f in manifest.files}
    for partition, end in sorted(wanted.items()):
        if ends.get(partition) != end:
            raise ArchiveError(
                f"{settings.topic_events}[{partition}] ends at {ends.get(partition)} after the "
                f"restore, the archive at {end}"
            )


def restore_archive(
    settings: Settings,
    folder: Path,
    manifest: Manifest,
    keys: Sequence[Mapping[str, Any]],
    on_progress: Progress | None = None,
) -> Restored:
    """Load a verified archive into an empty event log; register its keys first, so a
    worker already running verifies the restored events."""
    started = time.perf_counter()
    if not check_target_empty(settings, manifest.partitions):
        create_log_topic(settings, manifest.partitions)
    restored_keys = asyncio.run(register_archive_keys(settings, keys))
    records = produce_archive(settings, folder, manifest, on_progress)
    check_restored_ends(settings, manifest)
    seconds = time.perf_counter() - started
    return Restored(settings.topic_events, manifest.partitions, records, restored_keys, seconds)
