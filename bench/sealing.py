"""The cost of sealing contact details: `seal_contact` / `open_contact` beside raw AES-256-GCM.

    python -m bench.sealing [--rounds N] [--store]

Times, per call, on the same clear bytes and associated data:

    raw seal / raw open      AESGCM.encrypt / decrypt alone (the floor)
    seal_contact             serialise the details, bind the event's ids, encrypt, base64url
    open_contact             decode, decrypt, validate the details again
    wrap / unwrap            a data key under the key-encryption key
    key_for (warm store)     with --store: `PostgresDataKeyStore.key_for` of a participant
                             whose key exists, on a warm pool (one SELECT and an unwrap);
                             uses a registry schema of its own on the configured
                             database and drops it afterwards

No broker needed; only --store needs PostgreSQL. Results: the table, and
bench/results/sealing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench import report
from bench.throughput import RESULTS
from refnet.events.contact import ContactDetails
from refnet.events.sealing import (
    associated_data,
    new_data_key,
    open_contact,
    seal_contact,
    unwrap_key,
    wrap_key,
)
from refnet.events.settings import Settings
from refnet.projections.store.database import create_pool
from refnet.projections.store.migrate import migrate
from refnet.services.registry.data_keys import PostgresDataKeyStore

DETAILS = ContactDetails(
    name="Amina Haddad",
    phone="+49 176 1234567",
    email="amina.haddad@example.org",
    postal_address="Hauptstraße 12, 58452 Witten",
    preferred_language="ar",
)
EVENT = {
    "event_id": "3f2b8c1e-6a4d-4e1f-9b2a-7c5d8e9f0a1b",
    "participant_id": "p-7f3a9c2e41",
    "partner_id": "awo-en",
}


def per_call(rounds: int, call: Callable[[], object]) -> float:
    """Microseconds per call, the best of three runs of `rounds` calls (after a warm-up)."""
    for _ in range(min(rounds, 1000)):
        call()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            call()
        best = min(best, time.perf_counter() - started)
    return best / rounds * 1e6


def crypto(rounds: int) -> dict[str, float]:
    key = new_data_key()
    clear = DETAILS.model_dump_json(exclude_none=True).encode()
    aad = associated_data("participant.contact_recorded", *EVENT.values())
    aes = AESGCM(key.secret)
    nonce = os.urandom(12)
    raw_sealed = aes.encrypt(nonce, clear, aad)
    sealed = seal_contact(key, DETAILS, **EVENT)
    kek = secrets.token_bytes(32)
    wrapped = wrap_key(kek, EVENT["participant_id"], key)
    return {
        "clear_bytes": len(clear),
        "raw_seal_us": per_call(rounds, lambda: aes.encrypt(os.urandom(12), clear, aad)),
        "seal_contact_us": per_call(rounds, lambda: seal_contact(key, DETAILS, **EVENT)),
        "raw_open_us": per_call(rounds, lambda: aes.decrypt(nonce, raw_sealed, aad)),
        "open_contact_us": per_call(rounds, lambda: open_contact(key, sealed, **EVENT)),
        "wrap_us": per_call(rounds, lambda: wrap_key(kek, EVENT["participant_id"], key)),
        "unwrap_us": per_call(
            rounds, lambda: unwrap_key(kek, EVENT["participant_id"], key.key_id, wrapped)
        ),
    }


async def warm_store(rounds: int) -> dict[str, float]:
    """Microseconds per `key_for` of existing keys on a warm pool, in a throw-away schema."""
    settings = Settings()
    registry = f"bench_keys_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(settings.database_url, registry, registry, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, registry, registry)
        store = PostgresDataKeyStore(pool, secrets.token_bytes(32))
        participants = [f"p-bench-{n:06d}" for n in range(min(rounds, 1000))]
        for participant in participants:
            await store.key_for(participant)  # made here: what follows only reads
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for n in range(rounds):
                await store.key_for(participants[n % len(participants)])
            best = min(best, time.perf_counter() - started)
        return {"key_for_warm_us": best / rounds * 1e6}
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{registry}" CASCADE')
        await pool.close()


def table(r: dict[str, Any]) -> str:
    rows = [
        ("measure", "µs per call", "beside"),
        ("raw AES-256-GCM seal", f"{r['raw_seal_us']:.1f}", f"{r['clear_bytes']} clear bytes"),
        ("seal_contact", f"{r['seal_contact_us']:.1f}",
         f"{r['seal_contact_us'] / r['raw_seal_us']:.1f}× raw"),
        ("raw AES-256-GCM open", f"{r['raw_open_us']:.1f}", ""),
        ("open_contact", f"{r['open_contact_us']:.1f}",
         f"{r['open_contact_us'] / r['raw_open_us']:.1f}× raw"),
        ("wrap a data key", f"{r['wrap_us']:.1f}", "under the KEK"),
        ("unwrap a data key", f"{r['unwrap_us']:.1f}", ""),
    ]  # fmt: skip
    if "key_for_warm_us" in r:
        rows.append(("key_for (warm store)", f"{r['key_for_warm_us']:.1f}", "SELECT + unwrap"))
    return report.columns(rows)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.sealing", description=__doc__)
    cli.add_argument("--rounds", type=int, default=20_000, help="calls per timed run (N)")
    cli.add_argument("--store", action="store_true", help="also time key_for on PostgreSQL")
    args = cli.parse_args(argv)
    command = shlex.join(["python", "-m", "bench.sealing", *sys.argv[1:]])
    results = report.header(command, {"rounds": args.rounds})
    results |= crypto(args.rounds)
    if args.store:
        results |= asyncio.run(warm_store(min(args.rounds, 5_000)))
    report.finish(results, RESULTS / "sealing.json", table(results), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
