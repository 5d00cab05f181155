"""The coordinator's views under load: `refnet serve` over a read model of 1,000,000 participants.

    python -m bench.api [--participants N] [--rate R] [--seconds S] [--api-workers W]

Generates a read model (bench/api_data.py) in schemas of its own, issues a
coordinator token, starts `refnet serve --workers W` (1) on them, and sends requests at a
constant rate (open loop: each at its scheduled time, however long the ones
before it take, and its latency counted from that time, so a stall is not
hidden by the requests it held back). First the floor: an authenticated,
indexed one-row read through the same stack (a partner's inbox). Then each of
the dashboard's four views (outcomes, funnel, referral flows, monthly series)
alone at that rate, its requests going round five periods: open, a year, a
month (Berlin midnights, as the dashboard asks), one cut mid-day at both ends,
and 30 days from 08:00 UTC (an API client's). Beside them, once, the open
period's outcomes counted over the rows (as the views counted before the
projection kept its counts).

Drops its schemas and stops its server at the end, also on failure.
Results: the table, and bench/results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import httpx

from bench import api_data, pg
from bench.report import columns, finish, header
from bench.throughput import RESULTS
from refnet.events.settings import Settings
from refnet.projections.store import network_views
from refnet.projections.store.queries import network_outcomes
from refnet.projections.store.views import Period
from refnet.services.localstack.process import settings_env
from refnet.services.registry.tokens import issue_token
from tests.integration import row_counts  # the counting over the rows, kept as the tests' oracle

AIM_P99_MS = 20.0
PERIODS = {  # the dashboard asks for Berlin midnights; an API client may cut anywhere
    "open": "",
    "a year": "from=2025-01-01T00:00:00%2B01:00&to=2026-01-01T00:00:00%2B01:00",
    "a month": "from=2025-03-01T00:00:00%2B01:00&to=2025-04-01T00:00:00%2B02:00",
    "cut mid-day": "from=2024-06-15T10:30:00Z&to=2025-09-20T14:00:00Z",
    "30 days, 08:00Z": "from=2025-12-02T08:00:00Z&to=2026-01-01T08:00:00Z",
}
VIEWS = ("outcomes", "funnel", "referral-flows", "outcomes/monthly")


def parse(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    cli.add_argument("--participants", type=int, default=1_000_000)
    cli.add_argument("--rate", type=float, default=200.0, help="requests per second")
    cli.add_argument("--seconds", type=float, default=30.0, help="per phase")
    cli.add_argument("--port", type=int, default=8765)
    cli.add_argument("--api-workers", type=int, default=1, help="`refnet serve --workers`")
    return cli.parse_args(argv)


async def load(
    client: httpx.AsyncClient, paths: list[str], rate: float, seconds: float
) -> list[tuple[str, float, int]]:
    """(route, ms from its scheduled time, status) of each request, sent at `rate`."""
    loop = asyncio.get_running_loop()
    done: list[tuple[str, float, int]] = []

    async def one(path: str, due: float) -> None:
        try:
            status = (await client.get(path)).status_code
        except httpx.HTTPError:
            status = 0
        done.append((path, (loop.time() - due) * 1000, status))

    start = loop.time() + 0.2
    tasks = []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(paths[i % len(paths)], due)))
    await asyncio.gather(*tasks)
    return done


def percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "max": max(latencies)}


def summary(done: list[tuple[str, float, int]]) -> dict[str, dict[str, Any]]:
    """Per period (the query string) and for all of a phase's requests."""
    label = {query: name for name, query in PERIODS.items()}
    by_route: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for path, ms, status in done:
        route, _, query = path.partition("?")
        by_route[label.get(query, route)].append((ms, status))
        by_route["all"].append((ms, status))
    return {
        route: {
            "requests": len(rows),
            "errors": sum(status != 200 for _, status in rows),
            **percentiles([ms for ms, _ in rows]),
        }
        for route, rows in by_route.items()
    }


async def server_up(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                await client.get("/openapi.json")
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)


def _period(query: str) -> Period:
    bounds = {k: datetime.fromisoformat(v[0]) for k, v in parse_qs(query).items()}
    return Period.model_validate(bounds)


async def direct(settings: Settings) -> dict[str, dict[str, float]]:
    """Milliseconds per view and period in this process, without HTTP (best of 3), and the
    open period's outcomes counted over the rows."""
    conn = await pg.connect(settings.database_url, settings.read_model_schema)
    days = settings.referral_overdue_days
    views: dict[str, Callable[[Period], Awaitable[object]]] = {
        "outcomes": lambda p: network_outcomes(conn, p, days),
        "funnel": lambda p: network_views.network_funnel(conn, p),
        "referral-flows": lambda p: network_views.referral_flows(conn, p),
        "outcomes/monthly": lambda p: network_views.monthly_outcomes(conn, p),
        "outcomes over the rows": lambda p: row_counts.network_outcomes(conn, p, days),
    }
    out: dict[str, dict[str, float]] = defaultdict(dict)
    try:
        for view, count in views.items():
            for name, query in PERIODS.items():
                runs = []
                for _ in range(3):
                    started = time.perf_counter()
                    await count(_period(query))
                    runs.append((time.perf_counter() - started) * 1000)
                out[view][name] = min(runs)
    finally:
        await conn.close()
    return out


async def bench(args: argparse.Namespace, settings: Settings, results: dict[str, Any]) -> None:
    schema, registry = settings.read_model_schema, settings.registry_schema
    print(f"generating {args.participants:,} participants in {schema} ...", flush=True)
    results["generate_seconds"] = await api_data.generate(
        settings.database_url, schema, registry, args.participants
    )
    print(f"  {results['generate_seconds']}", flush=True)
    conn = await pg.connect(settings.database_url, registry)
    try:
        token = (await issue_token(conn, "coordinator", label="bench.api")).token
    finally:
        await conn.close()
    results["direct_ms"] = await direct(settings)
    env = settings_env(settings)
    refnet = [sys.executable, "-m", "refnet.services.cli.main"]
    server = subprocess.Popen(
        [*refnet, "serve", "--port", str(args.port), "--workers", str(args.api_workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        await server_up(base)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
        ) as client:
            phases = {"floor": ["/v1/partners/partner-1/inbox?limit=1"]} | {
                f"/v1/network/{v}": [f"/v1/network/{v}?{p}" for p in PERIODS.values()]
                for v in VIEWS
            }
            results["phases"] = {}
            for phase, paths in phases.items():
                print(f"{phase}: {args.rate:.0f} req/s for {args.seconds:.0f} s ...", flush=True)
                await load(client, paths, args.rate, 2)  # warm: plans, pool, caches
                done = await load(client, paths, args.rate, args.seconds)
                results["phases"][phase] = summary(done)
                await asyncio.sleep(2)  # let a queue left behind drain
    finally:
        server.terminate()
        server.wait(timeout=30)


def table(results: dict[str, Any]) -> str:
    rows = [
        ["route", "period", "requests", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "aim"]
    ]
    for phase, by_period in results["phases"].items():
        for period, s in by_period.items():
            if phase == "floor" and period != "all":
                continue
            met = "met" if s["p99"] <= AIM_P99_MS else "short"
            aim = "" if phase == "floor" else f"p99 ≤ {AIM_P99_MS:.0f} ms: {met}"
            rows.append(
                [
                    "inbox, 1 row (the floor)" if phase == "floor" else phase,
                    period if phase != "floor" else "",
                    f"{s['requests']:,}",
                    str(s["errors"]),
                    *(f"{s[k]:.1f}" for k in ("p50", "p90", "p99", "max")),
                    aim,
                ]
            )
    alone = [["in-process, no HTTP (best of 3)", *PERIODS]]
    alone += [
        [view, *(f"{ms:.1f} ms" for ms in by_period.values())]
        for view, by_period in results["direct_ms"].items()
    ]
    return columns(rows) + "\n\n" + columns(alone)


async def main_async(args: argparse.Namespace, command: str) -> int:
    tag = time.strftime("%Y%m%d%H%M%S") + f"{os.getpid() % 10_000:04d}"
    settings = Settings(
        read_model_schema=f"bench_api_{tag}_readmodel", registry_schema=f"bench_api_{tag}_registry"
    )
    results = header(command, vars(args))
    try:
        await bench(args, settings, results)
    finally:
        await pg.drop_schemas(
            settings.database_url, [settings.read_model_schema, settings.registry_schema]
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    finish(results, RESULTS / "api.json", table(results), command)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = "python -m bench.api " + " ".join(sys.argv[1:] if argv is None else argv)
    return asyncio.run(main_async(args, command.strip()))


if __name__ == "__main__":
    raise SystemExit(main())
