"""The archive format on files alone: lines, manifest, chain hash, and what verification finds."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from refnet.events.codec import validate
from refnet.events.fields import format_utc
from refnet.events.signing import CounterSequence, Signer, SigningKey, b64url
from refnet.projections.worker.projector import Record
from refnet.services.archive.export import parse_until
from refnet.services.archive.format import (
    FORMAT,
    KEYS_NAME,
    MANIFEST_NAME,
    ArchivedRecord,
    ArchiveError,
    LineInvalid,
    chain_hash,
    decode_line,
    encode_line,
    partition_file_name,
)
from refnet.services.archive.verify import Verification, read_manifest, verify_archive
from refnet.services.archive.writer import write_archive
from tests.unit.examples import valid_example

STAMP = 1_709_542_800_000  # 2024-03-04T09:00:00Z
UNDECODABLE = b"\xff\xfe not an event"


def key_document(key: SigningKey, partner: str) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "signer": "partner",
        "partner_id": partner,
        "public_key": b64url(key.public_key),
        "registered_at": format_utc(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        "retired_at": None,
    }


def signed_values(key: SigningKey, count: int) -> list[bytes]:
    signer = Signer(key, "awo-en-cms", CounterSequence())
    values = []
    for n in range(count):
        event = validate(
            valid_example("participant.enrolled")
            | {"participant_id": f"p-{n:08d}", "event_id": f"00000000-0000-4000-8000-{n:012d}"}
        )
        values.append(signer.encode_at(event, n))
    return values


def sample_records(key: SigningKey) -> list[Record]:
    """Two partitions: four signed events, one undecodable record; one empty partition."""
    values = signed_values(key, 4)
    records = [
        Record(0, 0, b"p-00000000", values[0], STAMP),
        Record(1, 0, b"p-00000001", values[1], STAMP + 1),
        Record(0, 1, b"p-00000002", values[2], STAMP + 2),
        Record(0, 2, None, UNDECODABLE, STAMP + 3),
        Record(1, 1, b"p-00000003", values[3], None),
    ]
    return records


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def archive(tmp_path: Path, key: SigningKey) -> Path:
    folder = tmp_path / "archive"
    ends = {0: 3, 1: 2, 2: 0}
    write_archive(folder, "refnet.events", ends, sample_records(key), [key_document(key, "awo-en")])
    return folder


def problems(result: Verification) -> list[str]:
    return [str(p) for p in result.problems]


def rewrite_manifest(folder: Path, change: Any) -> None:
    """Edit the manifest and restate its chain, as a forger covering their tracks would."""
    path = folder / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    change(manifest)
    chained = [(f["name"], f["sha256"]) for f in manifest["files"]]
    chained.append((manifest["keys"]["name"], manifest["keys"]["sha256"]))
    manifest["chain_sha256"] = chain_hash(chained)
    path.write_text(json.dumps(manifest, indent=2))


def rewrite_partition(folder: Path, partition: int, lines: list[bytes]) -> None:
    """Replace a partition file with `lines`, recompressed, and restate its hash and size."""
    name = partition_file_name(partition)
    (folder / name).write_bytes(gzip.compress(b"".join(lines)))
    data = (folder / name).read_bytes()

    def change(manifest: dict[str, Any]) -> None:
        entry = manifest["files"][partition]
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["compressed_bytes"] = len(data)

    rewrite_manifest(folder, change)


# ------------------------------------------------------------------ lines


def test_text_records_keep_their_bytes_as_text() -> None:
    value = '{"note":"Zeugnis anerkannt \u2028 ok","n":1}'.encode()
    line = encode_line(ArchivedRecord(7, STAMP, b"p-1", value))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.isascii()  # escaped, so no reader splits it at U+2028 or an umlaut
    fields = json.loads(line)
    assert fields == {"offset": 7, "timestamp_ms": STAMP, "key": "p-1", "value": value.decode()}
    assert decode_line(line) == ArchivedRecord(7, STAMP, b"p-1", value)


def test_binary_records_keep_their_bytes_in_base64() -> None:
    record = ArchivedRecord(0, None, b"\x00\xff", UNDECODABLE)
    fields = json.loads(encode_line(record))
    assert fields == {
        "offset": 0,
        "timestamp_ms": None,
        "key_b64": "AP8=",
        "value_b64": "//4gbm90IGFuIGV2ZW50",
    }
    assert decode_line(encode_line(record)) == record


def test_absent_key_and_value_stay_absent() -> None:
    record = ArchivedRecord(3, STAMP, None, None)
    assert json.loads(encode_line(record)) == {
        "offset": 3,
        "timestamp_ms": STAMP,
        "key": None,
        "value": None,
    }
    assert decode_line(encode_line(record)) == record


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"timestamp_ms":1,"key":null,"value":null}', "offset: missing"),
        (b'{"offset":-1,"timestamp_ms":1,"key":null,"value":null}', "offset: expected"),
        (b'{"offset":true,"timestamp_ms":1,"key":null,"value":null}', "offset: expected"),
        (b'{"offset":0,"timestamp_ms":1,"value":null}', "key: expected exactly one"),
        (b'{"offset":0,"timestamp_ms":1,"key":"a","key_b64":"YQ==","value":null}', "key:"),
        (b'{"offset":0,"timestamp_ms":1,"key":null,"value_b64":"**"}', "value_b64: not"),
        (b'{"offset":0,"timestamp_ms":1,"key":null,"value":null,"x":1}', "x: unknown field"),
        (b"[1]", "not a JSON object"),
        (b"{", "not JSON"),
    ],
)
def test_a_line_that_is_no_record_is_refused_naming_the_field(line: bytes, reason: str) -> None:
    with pytest.raises(LineInvalid, match=reason.replace("*", r"\*")):
        decode_line(line)


# ---------------------------------------------------------------- manifest


def test_the_chain_hash_is_sha256_over_hex_text_in_order() -> None:
    files = [("partition-00000.jsonl.gz", "aa" * 32), ("keys.json", "bb" * 32)]
    h0 = hashlib.sha256(FORMAT.encode()).hexdigest()
    h1 = hashlib.sha256(f"{h0}{'aa' * 32}partition-00000.jsonl.gz".encode()).hexdigest()
    h2 = hashlib.sha256(f"{h1}{'bb' * 32}keys.json".encode()).hexdigest()
    assert chain_hash(files) == h2
    assert chain_hash(files[::-1]) != h2
    assert chain_hash(files[:1]) != h2


def test_the_manifest_describes_every_file(archive: Path) -> None:
    manifest, chain = read_manifest(archive)
    files = manifest.files
    stated = json.loads((archive / MANIFEST_NAME).read_text())
    assert stated["format"] == FORMAT
    assert (stated["topic"], stated["partitions"], stated["records"]) == ("refnet.events", 3, 5)
    assert stated["log_ends"] == [3, 2, 0]
    described = [(f.name, f.partition, f.first_offset, f.end_offset, f.records) for f in files]
    assert described == [
        ("partition-00000.jsonl.gz", 0, 0, 3, 3),
        ("partition-00001.jsonl.gz", 1, 0, 2, 2),
        ("partition-00002.jsonl.gz", 2, 0, 0, 0),
    ]
    for entry in manifest.files:
        data = (archive / entry.name).read_bytes()
        assert (entry.sha256, entry.compressed_bytes) == (
            hashlib.sha256(data).hexdigest(),
            len(data),
        )
    keys = (archive / KEYS_NAME).read_bytes()
    assert stated["keys"] == {
        "name": KEYS_NAME,
        "count": 1,
        "sha256": hashlib.sha256(keys).hexdigest(),
    }
    assert chain == chain_hash(
        [(f.name, f.sha256) for f in manifest.files] + [(KEYS_NAME, stated["keys"]["sha256"])]
    )
    assert sorted(p.name for p in archive.iterdir()) == sorted(
        [f.name for f in manifest.files] + [KEYS_NAME, MANIFEST_NAME]
    )  # no temporary file is left behind


def test_the_same_records_give_the_same_files(tmp_path: Path, key: SigningKey) -> None:
    documents = [key_document(key, "awo-en")]
    for name in ("a", "b"):
        write_archive(tmp_path / name, "t", {0: 3, 1: 2, 2: 0}, sample_records(key), documents)
    first, second = read_manifest(tmp_path / "a")[0], read_manifest(tmp_path / "b")[0]
    assert [f.sha256 for f in first.files] == [f.sha256 for f in second.files]


def test_lines_read_back_as_the_records_written(archive: Path, key: SigningKey) -> None:
    with gzip.open(archive / partition_file_name(0)) as stream:
        read = [decode_line(line) for line in stream]
    originals = [r for r in sample_records(key) if r.partition == 0]
    assert read == [ArchivedRecord(r.offset, r.timestamp_ms, r.key, r.value) for r in originals]


def test_an_export_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("kept")
    with pytest.raises(ArchiveError, match="is not empty"):
        write_archive(tmp_path, "t", {0: 0}, [], [])
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


def test_a_log_that_ends_short_leaves_nothing_behind(tmp_path: Path, key: SigningKey) -> None:
    folder = tmp_path / "archive"
    with pytest.raises(ArchiveError, match="partition 0 ended at offset 3, not 4"):
        write_archive(folder, "t", {0: 4, 1: 2, 2: 0}, sample_records(key), [])
    assert list(folder.iterdir()) == []


def test_until_reads_dates_and_times_in_utc() -> None:
    assert parse_until("2024-12-31") == dt.datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
    assert parse_until("2024-03-04T09:00") == dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC)
    assert parse_until("2024-03-04T10:00+01:00") == dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC)
    with pytest.raises(ArchiveError, match="--until: '31.12.2024' is not an ISO 8601"):
        parse_until("31.12.2024")


# --------------------------------------------------------------- verifying


def test_an_untouched_archive_is_intact(archive: Path) -> None:
    result = verify_archive(archive)
    assert result.intact, problems(result)
    assert (result.records, result.events, result.signatures_checked) == (5, 4, True)
    assert [str(n) for n in result.not_events] == [
        "partition-00000.jsonl.gz line 3 (offset 2): not an event: not JSON: "
        "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
    ]


def test_a_changed_byte_is_found_in_its_file(archive: Path) -> None:
    path = archive / partition_file_name(1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify_archive(archive)
    assert not result.intact
    assert any(p.startswith("partition-00001.jsonl.gz: SHA-256 is ") for p in problems(result))


def test_a_missing_file_and_an_extra_file_are_named(archive: Path) -> None:
    (archive / partition_file_name(2)).unlink()
    (archive / "notes.txt").write_text("added later")
    assert problems(verify_archive(archive)) == [
        "partition-00002.jsonl.gz: missing",
        "notes.txt: extra: not named in the manifest",
    ]


def test_a_file_left_out_of_the_manifest_breaks_the_chain(archive: Path) -> None:
    path = archive / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["files"].pop()
    manifest["partitions"] = len(manifest["files"])
    manifest["log_ends"].pop()
    path.write_text(json.dumps(manifest))
    found = problems(verify_archive(archive))
    assert "manifest.json: chain_sha256 does not match the files and keys it lists" in found
    assert "partition-00002.jsonl.gz: extra: not named in the manifest" in found


def test_reordered_files_break_the_chain(archive: Path) -> None:
    path = archive / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["files"][0], manifest["files"][1] = manifest["files"][1], manifest["files"][0]
    path.write_text(json.dumps(manifest))
    assert problems(verify_archive(archive)) == [
        "manifest.json: chain_sha256 does not match the files and keys it lists",
        "manifest.json: files cover partitions [1, 0, 2], not 0..2 in order",
    ]


def test_swapped_file_contents_fail_both_hashes(archive: Path) -> None:
    first, second = archive / partition_file_name(0), archive / partition_file_name(1)
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    found = problems(verify_archive(archive))
    assert any(p.startswith("partition-00000.jsonl.gz: SHA-256 is ") for p in found)
    assert any(p.startswith("partition-00001.jsonl.gz: SHA-256 is ") for p in found)


def test_a_gap_in_the_offsets_is_found_even_with_hashes_restated(
    archive: Path, key: SigningKey
) -> None:
    records = [r for r in sample_records(key) if r.partition == 0]
    gapped = [records[0], records[1], Record(0, 3, None, UNDECODABLE, STAMP)]
    rewrite_partition(archive, 0, [encode_line(r) for r in gapped])
    assert problems(verify_archive(archive)) == [
        "partition-00000.jsonl.gz line 3: offset 3 where 2 was due",
        "partition-00000.jsonl.gz: ends at offset 4, the manifest says 3",
    ]


def test_a_removed_line_is_found_even_with_hashes_restated(archive: Path, key: SigningKey) -> None:
    records = [r for r in sample_records(key) if r.partition == 1]
    rewrite_partition(archive, 1, [encode_line(records[1])])
    assert problems(verify_archive(archive)) == [
        "partition-00001.jsonl.gz line 1: offset 1 where 0 was due",
        "partition-00001.jsonl.gz: holds 1 records, the manifest says 2",
    ]


def test_a_file_that_is_no_gzip_is_reported(archive: Path) -> None:
    rewrite_partition(archive, 1, [])
    (archive / partition_file_name(1)).write_bytes(b"plain text\n")
    found = problems(verify_archive(archive))
    assert any("partition-00001.jsonl.gz: does not decompress" in p for p in found)


def test_a_changed_event_fails_its_signature(archive: Path, key: SigningKey) -> None:
    records = [r for r in sample_records(key) if r.partition == 1]
    assert records[0].value is not None
    changed = records[0].value.replace(b'"german_level":"A2"', b'"german_level":"B1"')
    assert changed != records[0].value
    lines = [encode_line(Record(1, 0, records[0].key, changed, STAMP)), encode_line(records[1])]
    rewrite_partition(archive, 1, lines)
    result = verify_archive(archive)
    assert result.problems == []
    assert [str(f) for f in result.bad_signatures] == [
        "partition-00001.jsonl.gz line 1 (offset 0): event 00000000-0000-4000-8000-000000000001: "
        "bad signature: no registered key of awo-en or of the gateway verifies this event"
    ]
    assert not result.intact and result.files_intact


def test_a_key_id_that_does_not_match_its_key_is_reported(archive: Path, key: SigningKey) -> None:
    path = archive / KEYS_NAME
    documents = json.loads(path.read_text())
    documents[0]["key_id"] = "0" * 16
    path.write_text(json.dumps(documents))
    found = problems(verify_archive(archive))
    assert found[0].startswith("keys.json: SHA-256 is ")
    assert found[1] == f"keys.json: key 0: key_id '{'0' * 16}' is not {key.key_id}"


def test_a_folder_without_manifest_is_not_an_archive(tmp_path: Path) -> None:
    assert problems(verify_archive(tmp_path)) == [
        "manifest.json: missing: not an archive, or an unfinished one"
    ]
