"""The archive format: constants, one record per JSON line, and the manifest with its chain hash.

Files alone, no broker or database, so every rule of the format is unit-tested; the
README's "Archives" section describes it for someone checking an archive by hand.

    RefNetError         (refnet.events.errors)
    └── ArchiveError    an archive cannot be written, read or restored
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from refnet.events.errors import RefNetError

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
    """What a line is made from: a `Record`, or an `ArchivedRecord` read back."""

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
