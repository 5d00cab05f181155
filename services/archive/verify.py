"""Verifying an archive from its files alone: checksums, the chain hash, every line and signature.

Problems are `Finding`s named by file and line; a file wrong throughout is named once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refnet.events.codec import decode
from refnet.events.errors import EventInvalid, EventUndecodable
from refnet.events.signing import KeyUnusable, key_id_of, parse_public_key
from refnet.projections.audit.findings import Finding
from refnet.projections.worker.signatures import KeyRing
from refnet.services.archive.format import (
    MANIFEST_NAME,
    MAX_FINDINGS_PER_FILE,
    ArchivedRecord,
    ArchiveError,
    FileEntry,
    LineInvalid,
    Manifest,
    Progress,
    chain_hash,
    decode_line,
    parse_manifest,
)
from refnet.services.archive.writer import sha256_of

# ---------------------------------------------------------------- verifying


ARCHIVE = "archive"  # the kind of every finding about an archive's files


def finding(file: str, reason: str, line: int | None = None, offset: int | None = None) -> Finding:
    """Something wrong in an archive, or worth noting, named by file and line."""
    where = file
    if line is not None:
        where += f" line {line}"
    if offset is not None:
        where += f" (offset {offset})"
    detail = {"file": file, "line": line, "reason": reason}
    return Finding(ARCHIVE, f"{where}: {reason}", offset=offset, detail=detail)


def as_archive_json(found: Finding) -> dict[str, Any]:
    """`verify-archive --json`'s form of a finding: file, line, offset and reason, where known."""
    fields = {**found.detail, "offset": found.offset}
    return {k: fields[k] for k in ("file", "line", "offset", "reason") if fields.get(k) is not None}


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
            "problems": [as_archive_json(f) for f in self.problems],
            "bad_signatures": [as_archive_json(f) for f in self.bad_signatures],
            "not_events": [as_archive_json(f) for f in self.not_events],
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
            self.result.problems.append(finding(self.entry.name, reason, line, offset))
        elif self.findings == MAX_FINDINGS_PER_FILE + 1:
            self.result.problems.append(finding(self.entry.name, "more problems not listed"))

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
            return finding(self.entry.name, reason, number, record.offset)

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
            finding(entry.name, f"SHA-256 is {digest}, the manifest says {entry.sha256}")
        )
    size = path.stat().st_size
    if size != entry.compressed_bytes:
        result.problems.append(
            finding(entry.name, f"is {size} bytes, the manifest says {entry.compressed_bytes}")
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
            finding(
                MANIFEST_NAME,
                f"files cover partitions {partitions}, not 0..{manifest.partitions - 1} in order",
            )
        )
    for entry in manifest.files:
        if entry.first_offset != 0:
            result.problems.append(
                finding(entry.name, f"starts at offset {entry.first_offset}, not 0")
            )
        log_end = dict(enumerate(manifest.log_ends)).get(entry.partition, -1)
        if entry.end_offset > log_end:
            result.problems.append(
                finding(entry.name, f"ends at {entry.end_offset}, past the log's end {log_end}")
            )
    named = [f.name for f in manifest.files] + [manifest.keys_file, MANIFEST_NAME]
    present = {p.name for p in folder.iterdir()}
    for name in named:
        if name not in present:
            result.problems.append(finding(name, "missing"))
    for name in sorted(present - set(named)):
        result.problems.append(finding(name, "extra: not named in the manifest"))


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
            finding(name, f"SHA-256 is {digest}, the manifest says {manifest.keys_sha256}")
        )
    try:
        documents = key_list(data)
        if len(documents) != manifest.keys_count:
            raise ArchiveError(
                f"holds {len(documents)} keys, the manifest says {manifest.keys_count}"
            )
        return KeyRing.from_documents(documents)
    except (ArchiveError, KeyUnusable) as exc:
        result.problems.append(finding(name, str(exc)))
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
        result.problems.append(finding(str(folder), "not a directory"))
        return result
    try:
        manifest, stated_chain = read_manifest(folder)
    except ArchiveError as exc:
        result.problems.append(finding(MANIFEST_NAME, str(exc).removeprefix(f"{MANIFEST_NAME}: ")))
        return result
    result.manifest = manifest
    if chain_hash(manifest.chained) != stated_chain:
        result.problems.append(
            finding(MANIFEST_NAME, "chain_sha256 does not match the files and keys it lists")
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
