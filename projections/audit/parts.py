"""Folding the log one part at a time, so memory stays flat in the log's length.

Every event of a participant lives in one partition (the key is the
participant's pseudonym, and `classify` turns away a record whose key names
someone else), so a participant's state is needed only while its partition is
folded. A part is a group of whole partitions holding at most `PART_RECORDS`
records, or, for a partition longer than that, the records of that partition
whose key hashes to one of `buckets` buckets: such a partition is read once
into spill files on local disk (raw records, offset order kept) and each
bucket is folded from its file. Memory is then bounded by one part's states,
whatever the length of the log; the classifying processes carry on across
parts, so reading part by part keeps their parallelism.
"""

from __future__ import annotations

import math
import pickle
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from refnet.events.settings import Settings
from refnet.projections.store.outcomes import DeadLetter
from refnet.projections.worker.log_reader import chunked, read_log
from refnet.projections.worker.projector import Record, classify
from refnet.projections.worker.signatures import KeyRing

PART_RECORDS = 20_000  # records folded at a time: about 50 MB of states
SPILL_CHUNK = 2_000  # records per pickle in a spill file


@dataclass(frozen=True)
class Part:
    """Whole partitions up to their `ends`, or one bucket of a single long partition."""

    ends: dict[int, int]
    bucket: int = 0
    buckets: int = 1  # above 1: only the records of the one partition in `bucket`

    @property
    def split(self) -> bool:
        return self.buckets > 1

    @property
    def last_of_partition(self) -> bool:
        return self.bucket == self.buckets - 1


def plan_parts(ends: dict[int, int], limit: int = PART_RECORDS) -> list[Part]:
    """Parts covering every partition from offset 0 to `ends`, each of at most about
    `limit` records; partitions in rising order, a long one split into buckets."""
    parts: list[Part] = []
    group: dict[int, int] = {}
    size = 0
    for partition in sorted(ends):
        count = ends[partition]
        if count > limit:
            if group:
                parts.append(Part(group))
                group, size = {}, 0
            buckets = math.ceil(count / limit)
            parts += [Part({partition: ends[partition]}, b, buckets) for b in range(buckets)]
            continue
        if group and size + count > limit:
            parts.append(Part(group))
            group, size = {}, 0
        group[partition] = ends[partition]
        size += count
    if group:
        parts.append(Part(group))
    return parts


def bucket_of(key: bytes, buckets: int) -> int:
    """The bucket of a participant's records: stable across processes and runs."""
    return zlib.crc32(key) % buckets


@dataclass
class Spill:
    """A long partition's records split by key hash into one file per bucket."""

    directory: Path
    partition: int
    files: list[Path] = field(default_factory=list)

    def bucket(self, index: int) -> Iterator[Record]:
        """The bucket's records in offset order; its file is removed once read."""
        path = self.files[index]
        with path.open("rb") as stream:
            while True:
                try:
                    chunk: list[tuple[int, int, bytes | None, bytes | None]] = pickle.load(stream)
                except EOFError:
                    break
                for partition, offset, key, value in chunk:
                    yield Record(partition, offset, key, value)
        path.unlink()


def spill_partition(settings: Settings, keys: KeyRing, part: Part, directory: Path) -> Spill:
    """Read the part's partition once, writing each record to its bucket's file.

    A record without a key goes by the participant its event names (rare: this
    process classifies it to learn who), a dead letter without one to bucket 0.
    """
    [partition] = part.ends
    spill = Spill(directory, partition)
    streams: list[IO[bytes]] = []
    buffers: list[list[tuple[int, int, bytes | None, bytes | None]]] = []
    for index in range(part.buckets):
        spill.files.append(directory / f"p{partition}-b{index}.pickle")
        streams.append(spill.files[-1].open("wb"))
        buffers.append([])
    try:
        for record in read_log(settings, part.ends):
            key = record.key if record.key is not None else _named(record, keys)
            index = bucket_of(key, part.buckets) if key is not None else 0
            buffers[index].append((record.partition, record.offset, record.key, record.value))
            if len(buffers[index]) >= SPILL_CHUNK:
                pickle.dump(buffers[index], streams[index], pickle.HIGHEST_PROTOCOL)
                buffers[index] = []
        for stream, buffer in zip(streams, buffers, strict=True):
            if buffer:
                pickle.dump(buffer, stream, pickle.HIGHEST_PROTOCOL)
    finally:
        for stream in streams:
            stream.close()
    return spill


def _named(record: Record, keys: KeyRing) -> bytes | None:
    incoming = classify(record, keys)
    if isinstance(incoming.item, DeadLetter) or incoming.participant_id is None:
        return None
    return incoming.participant_id.encode()


def part_records(
    settings: Settings,
    keys: KeyRing,
    parts: Sequence[Part],
) -> Iterator[tuple[int, Iterable[Record]]]:
    """Each part's index beside its records (offset order within each partition).

    Spill files live in a temporary directory (under $TMPDIR) that is gone when
    this ends; at most one partition is spilled at a time.
    """
    with tempfile.TemporaryDirectory(prefix="refnet-replay-") as name:
        spill: Spill | None = None
        for index, part in enumerate(parts):
            if not part.split:
                yield index, read_log(settings, part.ends)
                continue
            if part.bucket == 0:
                spill = spill_partition(settings, keys, part, Path(name))
            assert spill is not None and [spill.partition] == list(part.ends)
            yield index, spill.bucket(part.bucket)
            if part.last_of_partition:
                spill = None


def tagged_chunks(
    settings: Settings, keys: KeyRing, parts: Sequence[Part], size: int
) -> Iterator[tuple[int, list[Record]]]:
    """The parts' records in chunks of at most `size`, a chunk never spanning two parts."""
    for index, records in part_records(settings, keys, parts):
        for chunk in chunked(records, size):
            yield index, chunk
