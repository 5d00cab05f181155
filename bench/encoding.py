"""The publisher's CPU per event, stage by stage, without a broker.

    python -m bench.encoding [--events N]

Over the bench's synthetic workload (`bench/workload.py`), per event:

    validate             the catalogue's Pydantic validation of a JSON object
    PII gate             `pii_problems`: every free-text field checked
    model_dump           the event's canonical dict (times in UTC with a `Z`)
    canonical, stdlib    json.dumps(sort_keys=True): the reference form
    canonical, orjson    `canonical_json`: byte for byte the same, checked here too
    Ed25519 sign         the signature alone (the floor of a signed publish)
    sign and encode      `Signer.encode_at`: dump, canonical twice, sign; with the
                         stdlib form and with `canonical_json`, in the same run
    batch sign           `merkle.batch_signatures` over signing bytes: leaf and node
                         hashes, proofs, one Ed25519 signature per batch (--batch)
    batch encode         `Signer.encode_many` per batch: as encode_at, batch-signed
    verify, plain        `KeyRing.problem` of an event signed alone (Ed25519 verify)
    verify, batch        `KeyRing.problem` of batch-signed events in log order: the
                         proof hashed, each batch's root signature checked once
    bytes added          the batch form's mean extra bytes per encoded event, by
                         batch size

Results: the table, and bench/results/encoding.json.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import report
from bench.throughput import RESULTS
from bench.workload import history
from refnet.events import signing
from refnet.events.catalogue import EventModel
from refnet.events.codec import (
    canonical_json,
    decode,
    stdlib_canonical_json,
    to_canonical_dict,
    validate,
)
from refnet.events.merkle import DEFAULT_BATCH, batch_signatures
from refnet.events.pii import pii_problems
from refnet.events.signing import Signer, SigningKey, load_public, signing_bytes
from refnet.projections.worker.signatures import KeyRing, RegisteredKey

PROOF_SIZES = (16, 64, 256, 1024)


def per_event(items: Sequence[Any], call: Callable[[Any], object]) -> float:
    """Microseconds per item, the best of three passes over `items` (after a warm-up)."""
    for item in items[:1000]:
        call(item)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for item in items:
            call(item)
        best = min(best, time.perf_counter() - started)
    return best / len(items) * 1e6


def stages(raw: list[dict[str, Any]]) -> dict[str, float]:
    events: list[EventModel] = [validate(r) for r in raw]
    bodies = [to_canonical_dict(e) for e in events]
    mismatched = sum(canonical_json(b) != stdlib_canonical_json(b) for b in bodies)
    signer = Signer(SigningKey.generate(), "bench-publisher")
    blobs = [stdlib_canonical_json(b) for b in bodies]
    results = {
        "validate_us": per_event(raw, validate),
        "pii_gate_us": per_event(events, pii_problems),
        "model_dump_us": per_event(events, to_canonical_dict),
        "canonical_stdlib_us": per_event(bodies, stdlib_canonical_json),
        "canonical_orjson_us": per_event(bodies, canonical_json),
        "sign_us": per_event(blobs, signer.key.sign),
        "encode_at_us": per_event(events, lambda e: signer.encode_at(e, 1)),
        "mismatched": float(mismatched),
    }
    # The same whole step with the reference form, as it was before orjson: the
    # signer's module looks the encoder up by name at each call.
    names = vars(signing)
    names["canonical_json"] = stdlib_canonical_json
    try:
        results["encode_at_stdlib_us"] = per_event(events, lambda e: signer.encode_at(e, 1))
    finally:
        names["canonical_json"] = canonical_json
    return results


def per_event_batched(items: Sequence[Any], size: int, call: Callable[[Any], object]) -> float:
    """Microseconds per item when `call` takes `size` items at a time."""
    batches = [items[n : n + size] for n in range(0, len(items), size)]
    return per_event(batches, call) * len(batches) / len(items)


def batch_stages(raw: list[dict[str, Any]], batch: int) -> dict[str, float]:
    """Sign and verify, plain and batch-signed, and the bytes a proof adds."""
    events: list[EventModel] = [validate(r) for r in raw]
    key = SigningKey.generate()
    signer = Signer(key, "bench-publisher", batch_size=batch)
    numbers = range(len(events))
    plain = [signer.encode_at(e, n) for n, e in zip(numbers, events, strict=True)]
    batched = signer.encode_many(events, numbers)
    blobs = [signing_bytes(decode(v)) for v in plain]
    # The bench's publisher signs for every partner, so it is registered as a gateway.
    ring = KeyRing([RegisteredKey(key.key_id, "gateway", None, load_public(key.public_key), None)])
    plain_events, batch_events = [decode(v) for v in plain], [decode(v) for v in batched]
    problems = [ring.problem(e) for e in plain_events + batch_events]
    results = {
        "batch": float(batch),
        "batch_sign_us": per_event_batched(
            blobs, batch, lambda b: batch_signatures(key.sign, b, batch)
        ),
        "encode_many_us": per_event_batched(
            events, batch, lambda b: signer.encode_many(b, range(len(b)))
        ),
        "signing_bytes_us": per_event(plain_events, signing_bytes),
        "verify_plain_us": per_event(plain_events, ring.problem),
        "verify_batch_us": per_event(batch_events, ring.problem),
        "refused": float(sum(p is not None for p in problems)),
        "plain_bytes": sum(map(len, plain)) / len(plain),
    }
    for size in PROOF_SIZES:
        sized = Signer(key, "bench-publisher", batch_size=size).encode_many(events, numbers)
        results[f"added_bytes_{size}"] = (sum(map(len, sized)) - sum(map(len, plain))) / len(plain)
    return results


def table(r: dict[str, Any]) -> str:
    def rate(us: float) -> str:
        return f"{1e6 / us:,.0f} ev/s"

    rows: list[tuple[str, str, str]] = [
        ("stage", "µs per event", "alone, one core"),
        ("validate (Pydantic)", f"{r['validate_us']:.1f}", rate(r["validate_us"])),
        ("PII gate", f"{r['pii_gate_us']:.1f}", rate(r["pii_gate_us"])),
        ("model_dump (canonical dict)", f"{r['model_dump_us']:.1f}", rate(r["model_dump_us"])),
        ("canonical JSON, stdlib", f"{r['canonical_stdlib_us']:.1f}",
         rate(r["canonical_stdlib_us"])),
        ("canonical JSON, orjson", f"{r['canonical_orjson_us']:.1f}",
         f"{r['canonical_stdlib_us'] / r['canonical_orjson_us']:.1f}× faster; "
         f"{int(r['mismatched'])} of {r['events']:,} differ"),
        ("Ed25519 sign (raw floor)", f"{r['sign_us']:.1f}", rate(r["sign_us"])),
        ("sign and encode, stdlib form", f"{r['encode_at_stdlib_us']:.1f}",
         rate(r["encode_at_stdlib_us"])),
        ("sign and encode, orjson form", f"{r['encode_at_us']:.1f}", rate(r["encode_at_us"])),
        (f"batch sign, {r['batch']:.0f} per signature", f"{r['batch_sign_us']:.1f}",
         rate(r["batch_sign_us"])),
        ("batch sign and encode", f"{r['encode_many_us']:.1f}", rate(r["encode_many_us"])),
        ("signing bytes (verify's encode)", f"{r['signing_bytes_us']:.1f}",
         rate(r["signing_bytes_us"])),
        ("verify, plain signature", f"{r['verify_plain_us']:.1f}", rate(r["verify_plain_us"])),
        ("verify, batch signature", f"{r['verify_batch_us']:.1f}",
         f"{rate(r['verify_batch_us'])}; {int(r['refused'])} refused"),
    ]  # fmt: skip
    rows += [
        (f"bytes added, batches of {size}", f"{r[f'added_bytes_{size}']:.0f} B",
         f"on {r['plain_bytes']:.0f} B per event")
        for size in PROOF_SIZES
    ]  # fmt: skip
    return report.columns(rows)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.encoding", description=__doc__)
    cli.add_argument("--events", type=int, default=20_000, help="events of the workload (N)")
    cli.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="events per batch signature")
    args = cli.parse_args(argv)
    command = shlex.join(["python", "-m", "bench.encoding", *sys.argv[1:]])
    raw = history(args.events, max(1, args.events // 10))
    params = {"events": len(raw), "batch": args.batch}
    results = report.header(command, params) | {"events": len(raw)}
    results |= stages(raw)
    results |= batch_stages(raw, args.batch)
    report.finish(results, RESULTS / "encoding.json", table(results), command)
    return 0 if results["mismatched"] == 0 and results["refused"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
