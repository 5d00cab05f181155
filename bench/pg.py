"""PostgreSQL side of the benchmark: the raw COPY baseline, read-model checks, schema drops."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

import asyncpg

from bench.workload import Raw

# About as wide as one event: the ids, type, two times and the canonical JSON as jsonb
# (the projection's own state column, participant_state.facts, is jsonb too).
_RAW_TABLE = """
CREATE TEMP TABLE bench_raw_copy (
    participant_id text NOT NULL, event_id uuid NOT NULL, type text NOT NULL,
    occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL, payload jsonb NOT NULL
)
"""
_COLUMNS = ["participant_id", "event_id", "type", "occurred_at", "recorded_at", "payload"]
_COUNTS = """
SELECT (SELECT count(*) FROM participants) AS participants,
       (SELECT count(*) FROM referrals) AS referrals,
       (SELECT count(*) FROM trainings) AS trainings,
       (SELECT count(*) FROM dead_letters) AS dead_letters
"""


async def connect(dsn: str, schema: str | None = None) -> asyncpg.Connection:
    """A plain connection (search_path on `schema`); no TLS to a database on this machine."""
    local = "sslmode" not in dsn and urlparse(dsn).hostname in ("127.0.0.1", "localhost", "::1")
    settings = {"search_path": f"{schema},public"} if schema else {}
    return await asyncpg.connect(dsn, ssl=False if local else None, server_settings=settings)


async def raw_copy(dsn: str, raws: list[Raw], values: list[bytes]) -> tuple[float, float]:
    """Seconds to COPY one row per event into a temp (unlogged) table; mean row width (bytes)."""
    records = [
        (
            r["participant_id"],
            r["event_id"],
            r["type"],
            r["occurred_at"],
            r["recorded_at"],
            v.decode(),
        )
        for r, v in zip(raws, values, strict=True)
    ]
    conn = await connect(dsn)
    try:
        await conn.execute(_RAW_TABLE)
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bench_raw_copy", records=records, columns=_COLUMNS)
        elapsed = time.perf_counter() - started
        width = await conn.fetchval("SELECT avg(pg_column_size(t.*)) FROM bench_raw_copy t")
    finally:
        await conn.close()
    return elapsed, float(width)


_TABLE_STATS = """
SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = current_schema()
"""


async def write_stats(conn: asyncpg.Connection, events: int) -> dict[str, float]:
    """Write amplification: each batch re-inserts the state row of every participant it
    touches, so state rows inserted / events = participant rewrites per event.

    Read once the worker has stopped: an idle backend may hold its statistics back.
    """
    rows = await _settled(conn)
    rewrites = rows["participant_state"]["n_tup_ins"] if "participant_state" in rows else 0
    moves = rows["projection_offsets"]["n_tup_upd"] if "projection_offsets" in rows else 0
    return {
        "state_rows_inserted": rewrites,
        "offset_rows_updated": moves,
        "rewrites_per_event": rewrites / events,
    }


async def _settled(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """The table statistics once they stop moving (a closing backend flushes them late)."""
    last: dict[str, tuple[int, int]] = {}
    deadline = time.monotonic() + 5
    while True:
        rows = {r["relname"]: r for r in await conn.fetch(_TABLE_STATS)}
        now = {name: (r["n_tup_ins"], r["n_tup_upd"]) for name, r in rows.items()}
        if (now == last and now) or time.monotonic() > deadline:
            return rows
        last = now
        await asyncio.sleep(0.5)


async def read_model_counts(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(_COUNTS)
    assert row is not None
    return dict(row.items())


async def drop_schemas(dsn: str, schemas: list[str]) -> None:
    conn = await connect(dsn)
    try:
        for schema in schemas:  # our generated names, checked by Settings' pattern
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
