"""The peer beside RefNet: the `eventsourcing` library's projection runner on the same PostgreSQL.

The peer's own benchmark (`../shared/peer-eventsourcing/bench.py` beside this
repository, or `REFNET_PEER_BENCH`) runs in a virtual environment of its own,
`bench/.peer-venv`, made on first use with the versions its README pins. It
writes the events through the library (100 per `save()`), then folds them
from an empty read model with `ProjectionRunner`, one transaction per event,
and its rows are read back here. It uses the stack's database and role, and
drops the tables it made.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "bench" / ".peer-venv"
PINNED = ["eventsourcing[postgres]==9.5.6", "psycopg-binary==3.3.9", "asyncpg==0.32.0"]
_TABLES = (
    "peerapp_events",
    "counts_tracking",
    "counts_by_type",
    "counts_by_partner",
    "counts_participants",
)


@dataclass(frozen=True)
class PeerRun:
    events: int
    write_rate: str  # as the peer prints it, e.g. "8,123 ev/s"
    projection_rate: str
    projection_rate_value: float
    notes: str


def peer_bench() -> Path | None:
    given = os.environ.get("REFNET_PEER_BENCH")
    path = Path(given) if given else ROOT.parent / "shared" / "peer-eventsourcing" / "bench.py"
    return path if path.is_file() else None


def _python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"peer: making {VENV} with {' '.join(PINNED)}", flush=True)
        venv.create(VENV, with_pip=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", *PINNED], check=True)
    return python


def run_peer(database_url: str, events: int) -> PeerRun:
    """The peer's write and projection over `events` (a multiple of 10) on this database."""
    bench = peer_bench()
    if bench is None:
        raise FileNotFoundError("the peer's bench.py was not found (set REFNET_PEER_BENCH)")
    url = urlparse(database_url)
    env = os.environ | {
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
    }
    argv = [str(_python()), str(bench), "-n", str(events), "--saves", "100", "--views", "plain"]
    argv.append("--no-raw")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        raise RuntimeError(f"the peer's benchmark failed with exit code {done.returncode}")
    rows = [ast.literal_eval(line) for line in done.stdout.splitlines() if line.startswith("(")]
    by_phase = {phase: (rate, notes) for phase, rate, notes in rows}
    write = next(v for k, v in by_phase.items() if k.startswith("write"))
    projection = next(v for k, v in by_phase.items() if k.startswith("projection"))
    value = float(projection[0].split()[0].replace(",", ""))
    return PeerRun(events, write[0], projection[0], value, projection[1])


async def drop_peer_tables(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for table in _TABLES:
            await conn.execute(f"DROP TABLE IF EXISTS public.{table}")
    finally:
        await conn.close()
