"""PostgreSQL for the local stack: use a reachable server, else set up the local cluster.

The install/start/role logic lives once, in deploy/postgres/setup.sh. The stack stops
the cluster on `down` only if it started it, as recorded in `<data_dir>/postgres.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

import asyncpg

from refnet.events.settings import Settings
from refnet.projections.worker.heartbeat import WorkerStatus, worker_statuses
from refnet.projections.worker.lag import stored_offsets
from refnet.services.localstack.errors import DatabaseUnavailable
from refnet.services.localstack.process import data_dir, deploy_dir, last_output_line, run_to_end

CONNECT_TIMEOUT = 5.0

# The projection worker's offsets table (projections/migrations), in the read model's schema.
_LOCAL_HOSTS = {"", "127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class PostgresState:
    """What the stack knows about the local cluster it set up."""

    cluster: str
    started_by_stack: bool


async def server_version(dsn: str) -> str | None:
    """The server's version (e.g. "15.18") if `dsn` connects, else None."""
    try:
        connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None
    try:
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return str(version).split()[0]


async def ensure_postgres(settings: Settings) -> str:
    """Return a DSN that connects; set up the local cluster first if it does not."""
    dsn = settings.database_url
    if await server_version(dsn) is not None:
        return dsn
    parts = urlsplit(dsn)
    if (parts.hostname or "") not in _LOCAL_HOSTS:
        raise DatabaseUnavailable(
            f"PostgreSQL at {safe_address(dsn)} (REFNET_DATABASE_URL) is not reachable; "
            "the stack sets up only a server on this machine"
        )
    report = await asyncio.to_thread(_run_setup, parts)
    cluster, port = report.get("cluster", "?"), report.get("port", "")
    if port and port != str(parts.port or 5432):
        raise DatabaseUnavailable(
            f"the local cluster {cluster} listens on port {port}, but REFNET_DATABASE_URL "
            f"uses {parts.port or 5432}"
        )
    previous = read_state(settings)
    started = report.get("started") == "yes" or (
        previous is not None and previous.cluster == cluster and previous.started_by_stack
    )
    _write_state(settings, PostgresState(cluster, started))
    if await server_version(dsn) is None:
        raise DatabaseUnavailable(
            f"cluster {cluster} is running but {safe_address(dsn)} does not accept "
            "REFNET_DATABASE_URL's user and password; see deploy/postgres/setup.sh"
        )
    return dsn


def stop_postgres(settings: Settings) -> bool:
    """Stop the local cluster if the stack started it; True if it was stopped."""
    state = read_state(settings)
    if state is None or not state.started_by_stack:
        return False
    version, _, name = state.cluster.partition("/")
    command = ["pg_ctlcluster", version, name, "stop"]
    if os.geteuid() != 0:
        command.insert(0, "sudo")
    result = run_to_end(command, 120)
    if result.returncode != 0 and "not running" not in result.stderr:
        reason = last_output_line(result.stderr)
        raise DatabaseUnavailable(f"stopping PostgreSQL cluster {state.cluster} failed: {reason}")
    _state_file(settings).unlink(missing_ok=True)
    return True


def read_state(settings: Settings) -> PostgresState | None:
    """The recorded state of the local cluster, or None if the stack never set it up."""
    try:
        raw = json.loads(_state_file(settings).read_text())
        return PostgresState(str(raw["cluster"]), bool(raw["started_by_stack"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


async def projection_offsets(settings: Settings) -> dict[int, int]:
    """The projection's next offset per partition of the event log ({} before its first run)."""
    try:
        connection = await asyncpg.connect(
            settings.database_url,
            timeout=CONNECT_TIMEOUT,
            server_settings={"search_path": f"{settings.read_model_schema},public"},
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(
            f"cannot read offsets from {safe_address(settings.database_url)}: {exc}"
        ) from exc
    try:
        return await stored_offsets(connection, settings.topic_events)
    except asyncpg.UndefinedTableError:
        return {}  # the worker has not created its tables yet: it has read nothing
    finally:
        await connection.close()


async def projection_workers(settings: Settings) -> list[WorkerStatus]:
    """The projection workers' last reports ([] before any worker ran, or PostgreSQL is down)."""
    try:
        connection = await asyncpg.connect(
            settings.database_url,
            timeout=CONNECT_TIMEOUT,
            server_settings={"search_path": f"{settings.registry_schema},public"},
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return []
    try:
        return await worker_statuses(
            connection, settings.consumer_group, settings.worker_stall_seconds
        )
    except asyncpg.UndefinedTableError:
        return []  # no worker has migrated the registry yet
    finally:
        await connection.close()


def safe_address(dsn: str) -> str:
    """`host:port/database` of a DSN, without user or password."""
    parts = urlsplit(dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def _run_setup(parts: SplitResult) -> dict[str, str]:
    script = deploy_dir() / "postgres" / "setup.sh"
    env = dict(os.environ)
    env["REFNET_PG_USER"] = unquote(parts.username or "refnet")
    env["REFNET_PG_PASSWORD"] = unquote(parts.password or "refnet")
    env["REFNET_PG_DB"] = unquote(parts.path.lstrip("/") or "refnet")
    env["REFNET_PG_PORT"] = str(parts.port or 5432)
    try:
        result = run_to_end(["bash", str(script)], 1800, env)
    except subprocess.TimeoutExpired as exc:
        raise DatabaseUnavailable(f"{script} did not finish within 30 minutes") from exc
    if result.returncode != 0:
        raise DatabaseUnavailable(f"{script} failed: {last_output_line(result.stderr)}")
    pairs = (line.partition("=") for line in result.stdout.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


def _state_file(settings: Settings) -> Path:
    return data_dir(settings) / "postgres.json"


def _write_state(settings: Settings, state: PostgresState) -> None:
    path = _state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(state)))
