"""The projection without faust or Kafka: the same log applied in-process, timed by stage.

    python -m bench.store_only [--events N] [--participants M] [--batch-sizes 2000,20000]

Diagnoses the worker: how fast `classify` + `OutcomeStore.apply_batch` go on their own,
how much of a batch is spent waiting on each SQL statement or COPY, and how many
participant rewrites a rebuild costs per event. Uses (and drops) its own schemas.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import zlib
from collections import Counter, defaultdict
from typing import Any

import asyncpg

from bench.kafka_io import build
from bench.pg import drop_schemas
from bench.workload import PARTNERS, history
from refnet.events.settings import Settings
from refnet.events.signing import CounterSequence, Signer, SigningKey, load_public
from refnet.projections.store.migrate import migrate
from refnet.projections.store.outcomes import OutcomeStore
from refnet.projections.worker.projector import Record, classify
from refnet.projections.worker.signatures import KeyRing, RegisteredKey

WAITS: defaultdict[str, float] = defaultdict(float)  # seconds per statement


def _label(query: str) -> str:
    return " ".join(query.split())[:44]


class TimedConnection(asyncpg.Connection):
    """Adds up the wall time of every statement and COPY, by statement."""

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().fetch(query, *args, **kwargs)
        finally:
            WAITS[_label(query)] += time.perf_counter() - started

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().execute(query, *args, **kwargs)
        finally:
            WAITS[_label(query)] += time.perf_counter() - started

    async def copy_records_to_table(self, table_name: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().copy_records_to_table(table_name, **kwargs)
        finally:
            WAITS[f"COPY {table_name}"] += time.perf_counter() - started


def signers() -> tuple[dict[str, Signer], KeyRing]:
    """A key per partner, in memory, and the ring that verifies them."""
    made = {p: Signer(SigningKey.generate(), p, CounterSequence()) for p in PARTNERS}
    ring = KeyRing(
        [
            RegisteredKey(s.key.key_id, "partner", p, load_public(s.key.public_key), None)
            for p, s in made.items()
        ]
    )
    return made, ring


def log_of(
    events: int, participants: int, partitions: int, by_partner: dict[str, Signer]
) -> list[Record]:
    """The workload as the worker reads it: signed, keyed records with per-partition offsets."""
    offsets: Counter[int] = Counter()
    records = []
    for raw in history(events, participants, seed="store-only"):
        event = build(raw)
        signer = by_partner[event.partner_id]
        key, value = event.participant_id.encode(), signer.encode_at(event, signer.reserve(1))
        partition = zlib.crc32(key) % partitions
        records.append(Record(partition, offsets[partition], key, value))
        offsets[partition] += 1
    return records


async def run(
    settings: Settings, log: list[Record], ring: KeyRing, batch: int, schema: str
) -> dict[str, Any]:
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=2,
        connection_class=TimedConnection,
        server_settings={"search_path": f"{schema},public", "synchronous_commit": "off"},
        ssl=False,
    )
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, f"{schema}_registry")
        store = OutcomeStore(pool, "bench.store-only")
        await store.ensure_partitions(settings.topic_partitions)
        WAITS.clear()
        classify_s = apply_s = 0.0
        rewrites = 0
        started = time.perf_counter()
        for at in range(0, len(log), batch):
            t0 = time.perf_counter()
            incoming = [classify(r, ring) for r in log[at : at + batch]]
            t1 = time.perf_counter()
            await store.apply_batch(incoming)
            t2 = time.perf_counter()
            classify_s, apply_s = classify_s + t1 - t0, apply_s + t2 - t1
            rewrites += len({i.participant_id for i in incoming})
        total = time.perf_counter() - started
    finally:
        await pool.close()
        await drop_schemas(settings.database_url, [schema, f"{schema}_registry"])
    return {
        "batch": batch,
        "seconds": total,
        "classify_s": classify_s,
        "apply_s": apply_s,
        "rewrites": rewrites,
        "waits": dict(WAITS),
    }


def show(n: int, r: dict[str, Any]) -> None:
    us = 1e6 / n
    waits = r["waits"]
    db = sum(waits.values())
    print(
        f"\nbatch {r['batch']:,}: {n / r['seconds']:,.0f} ev/s "
        f"({r['rewrites'] / n:.2f} participant rewrites per event)"
    )
    print(f"  classify (decode, validate, fact)   {r['classify_s'] * us:7.1f} µs/ev")
    print(f"  apply_batch, Python (fold, derive…) {(r['apply_s'] - db) * us:7.1f} µs/ev")
    print(f"  apply_batch, awaiting PostgreSQL    {db * us:7.1f} µs/ev, of which:")
    for label, seconds in sorted(waits.items(), key=lambda kv: -kv[1]):
        print(f"    {seconds * us:7.1f}  {label}")


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings()
    started = time.perf_counter()
    by_partner, ring = signers()
    log = log_of(args.events, args.participants, settings.topic_partitions, by_partner)
    print(
        f"{len(log):,} records of {args.participants:,} participants "
        f"in {time.perf_counter() - started:.1f} s (untimed)"
    )
    tag = time.strftime("%H%M%S")
    for size in args.batch_sizes:
        show(len(log), await run(settings, log, ring, size, f"bench_store_{tag}_{size}"))


def main() -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.store_only", description=__doc__)
    cli.add_argument("--events", type=int, default=200_000)
    cli.add_argument("--participants", type=int, default=None)
    cli.add_argument(
        "--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[2000, 20000]
    )
    args = cli.parse_args()
    args.participants = args.participants or max(1, args.events // 10)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
