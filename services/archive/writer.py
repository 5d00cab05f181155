"""Writing an archive folder: one gzip file per partition, the keys, then the manifest last.

Each file is written beside its final name and renamed, so a folder never holds a
half-written file under a final name; the manifest, written last, is the seal.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refnet.events.fields import format_utc
from refnet.projections.worker.projector import Record
from refnet.services.archive.format import (
    _TEMP_SUFFIX,
    CHUNK_BYTES,
    COMPRESS_LEVEL,
    KEYS_NAME,
    MANIFEST_NAME,
    ArchiveError,
    FileEntry,
    Manifest,
    RecordLike,
    encode_line,
    partition_file_name,
)

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
    records: Iterable[Record],
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
