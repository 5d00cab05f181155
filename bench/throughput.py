"""Throughput and latency of RefNet's publish path and projection worker, against aims.

    python -m bench.throughput [--events N] [--participants M] [--rate 1000]
                               [--latency-seconds 10] [--profile pyinstrument|py-spy]

Uses its own topics, consumer groups and read-model schemas (never the stack's), and
removes them at the end, also on failure. Results: the table, and bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import kafka_io, latency, peer, pg, report
from bench.noise import watched
from bench.profile import PySpy, render, summary
from bench.worker import CatchUp, Worker
from bench.workload import PARTNERS, history
from refnet.events.publisher import encoded
from refnet.events.settings import Settings
from refnet.services.kafka.topics import ensure_topics
from refnet.services.registry.local_keys import provision_keys

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    cli.add_argument("--events", type=int, default=200_000, help="events to publish (N)")
    cli.add_argument("--participants", type=int, default=None, help="participants (default N/10)")
    cli.add_argument("--rate", type=float, default=1000.0, help="latency probe: events/s")
    cli.add_argument("--latency-seconds", type=float, default=10.0, help="latency probe length")
    cli.add_argument(
        "--profile",
        choices=["pyinstrument", "py-spy"],
        default=None,
        help="profile a worker (the profiled phase's figures are then perturbed)",
    )
    cli.add_argument(
        "--profile-phase",
        choices=["rebuild", "latency"],
        default="rebuild",
        help="which phase to profile (latency: py-spy only)",
    )
    cli.add_argument("--poll-ms", type=float, default=5.0, help="latency probe: row poll interval")
    cli.add_argument(
        "--peer-events",
        type=int,
        default=50_000,
        help="events for the peer (eventsourcing's projection runner) beside it; 0: none",
    )
    args = cli.parse_args(argv)
    if args.profile == "pyinstrument" and args.profile_phase == "latency":
        cli.error("--profile-phase latency needs --profile py-spy")
    args.participants = args.participants or max(1, args.events // 10)
    return args


class Run:
    """The names one benchmark run owns, and the settings its workers get."""

    def __init__(self, base: Settings) -> None:
        self.tag = time.strftime("%Y%m%d%H%M%S") + f"{os.getpid() % 10_000:04d}"
        self.prefix = f"refnet.bench.{self.tag}"
        self.raw_topic = f"{self.prefix}.raw"
        self.groups = {k: f"refnet-bench-{self.tag}-{k}" for k in ("live", "rebuild", "raw")}
        self.schemas = {k: f"bench_{self.tag}_{k}" for k in ("live", "rebuild", "registry")}
        self.workdir = Path(tempfile.gettempdir()) / f"refnet-bench-{self.tag}"
        self.base = base
        self.workers: list[Worker] = []

    def settings(self, kind: str) -> Settings:
        return Settings(
            kafka_bootstrap=self.base.kafka_bootstrap,
            database_url=self.base.database_url,
            topic_events=f"{self.prefix}.events",
            topic_dead_letter=f"{self.prefix}.dead-letter",
            consumer_group=self.groups[kind],
            read_model_schema=self.schemas[kind],
            registry_schema=self.schemas["registry"],
            keys_dir=self.workdir / "keys",
        )


def _catchup_json(c: CatchUp, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "seconds": c.seconds,
        "rate": c.rate,
        "steady_rate": c.steady_rate,
        "startup_s": c.first_applied_after,
        "peak_rss_mb": c.peak_rss_mb,
        "main_peak_rss_mb": c.main_peak_rss_mb,
        "cpu_seconds": c.cpu_seconds,
        "child_cpu_seconds": c.child_cpu_seconds,
        "wal_bytes": c.wal_bytes,
        "read_model": counts,
        "progress": c.progress,
    }


Projected = tuple[Worker, CatchUp, dict[str, Any]]


async def _project(run: Run, kind: str, n: int, profile: str | None) -> Projected:
    """Start a worker on an empty schema and wait until it has applied all `n` events."""
    settings = run.settings(kind)
    out = RESULTS / f"rebuild-profile.{'txt' if profile == 'pyinstrument' else 'raw'}"
    worker = Worker(
        settings,
        run.workdir,
        RESULTS / f"worker-{kind}.log",
        profile=str(out) if profile == "pyinstrument" else None,
    )
    run.workers.append(worker)
    worker.start()
    spy = PySpy(worker.pid, out) if profile == "py-spy" else None
    try:
        result = await worker.caught_up(n, timeout=60 + n / 500)
    finally:
        if spy is not None:
            spy.stop()
    conn = await pg.connect(settings.database_url, settings.read_model_schema)
    try:
        counts = await pg.read_model_counts(conn)
    finally:
        await conn.close()
    extra: dict[str, Any] = {"profile": str(out)} if profile else {}
    return worker, result, {**_catchup_json(result, counts), **extra}


async def bench(args: argparse.Namespace, run: Run, results: dict[str, Any]) -> None:
    n, live = args.events, run.settings("live")
    started = time.perf_counter()
    raws = history(n, args.participants, seed=run.tag)
    print(
        f"workload: {n:,} events of {args.participants:,} participants "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    ensure_topics(live)
    kafka_io.create_topic(live, run.raw_topic)
    await provision_keys(live, PARTNERS)

    noise = results.setdefault("noise", {})
    with watched(noise, "publish"):
        started = time.perf_counter()
        for raw in raws:  # models not kept: as in a publish, and no GC of 200k live models
            kafka_io.build(raw)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        records = [encoded(kafka_io.build(r)) for r in raws]
        encode_s = time.perf_counter() - started - build_s
        validated_s = kafka_io.validated_publish(live, raws)
        raw_s = kafka_io.raw_produce(live, run.raw_topic, records)
    mean_bytes = sum(len(v) for _, v in records) / n
    results["publish"] = {
        "build_rate": n / build_s,
        "encode_rate": n / encode_s,
        "validated_s": validated_s,
        "validated_rate": n / validated_s,
        "raw_s": raw_s,
        "raw_rate": n / raw_s,
        "ratio": raw_s / validated_s,  # validated rate / raw rate
        "mean_event_bytes": mean_bytes,
    }
    print(f"publish: validated {n / validated_s:,.0f} ev/s, raw {n / raw_s:,.0f} ev/s")

    with watched(noise, "baselines"):
        consume_s = kafka_io.raw_consume(live, live.topic_events, n, run.groups["raw"])
        copy_s, width = await pg.raw_copy(live.database_url, raws, [v for _, v in records])
    del records
    results["baselines"] = {
        "raw_consume_rate": n / consume_s,
        "raw_copy_rate": n / copy_s,
        "raw_copy_row_bytes": width,
    }
    print(f"baselines: consume {n / consume_s:,.0f} ev/s, COPY {n / copy_s:,.0f} ev/s")

    with watched(noise, "projection"):
        worker, catchup, results["projection"] = await _project(run, "live", n, None)
    print(f"live projection: {catchup.rate:,.0f} ev/s in {catchup.seconds:.1f} s")
    await worker.stop()  # its connections flush their statistics as they close
    conn = await pg.connect(live.database_url, live.read_model_schema)
    try:
        results["projection"].update(await pg.write_stats(conn, n))
    finally:
        await conn.close()
    await pg.drop_schemas(live.database_url, [run.schemas["live"]])

    profile = args.profile if args.profile_phase == "rebuild" else None
    with watched(noise, "rebuild"):
        worker, catchup, results["rebuild"] = await _project(run, "rebuild", n, profile)
    print(f"rebuild: {catchup.rate:,.0f} ev/s in {catchup.seconds:.1f} s")
    if profile == "pyinstrument":  # its report is written on exit: go on with a plain worker
        await worker.stop()
        worker = Worker(run.settings("rebuild"), run.workdir, RESULTS / "worker-latency.log")
        run.workers.append(worker)
        worker.start()
    with watched(noise, "latency"):
        await _latency(args, run, worker, results)
    results["worker_exit"] = await worker.stop()
    if args.peer_events and peer.peer_bench() is not None:
        with watched(noise, "peer"):
            events = min(args.peer_events, n) // 10 * 10
            try:
                results["peer"] = asdict(peer.run_peer(live.database_url, events))
            finally:
                await peer.drop_peer_tables(live.database_url)
        print(f"peer: projection {results['peer']['projection_rate']}")


async def _latency(
    args: argparse.Namespace, run: Run, worker: Worker, results: dict[str, Any]
) -> None:
    rebuilt = run.settings("rebuild")
    conn = await pg.connect(rebuilt.database_url, rebuilt.read_model_schema)
    worker.reset_peak()
    out = RESULTS / "latency-profile.raw"
    spy = (
        PySpy(worker.pid, out)
        if (args.profile, args.profile_phase) == ("py-spy", "latency")
        else None
    )
    try:
        lat = await latency.measure(
            rebuilt, conn, args.rate, args.latency_seconds, run.tag, args.poll_ms / 1000
        )
    finally:
        if spy is not None:
            spy.stop()
        await conn.close()
    results["latency"] = _latency_json(lat, worker.peak_rss / 2**20)
    if spy is not None:
        results["latency"]["profile"] = str(out)


def _code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (read-only git)."""
    root = Path(__file__).resolve().parents[1]
    git = ["git", "--no-optional-locks", "-C", str(root)]
    try:
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
        changes = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    except OSError:
        return {}
    changed = [line[3:] for line in changes.stdout.splitlines()]
    return {"commit": head.stdout.strip(), "changed": changed}


def _latency_json(lat: latency.Latency, rss_mb: float) -> dict[str, Any]:
    pct = latency.percentile
    return {
        "sent": lat.sent,
        "seen": lat.seen,
        "rate": lat.achieved_rate,
        "e2e_p50_ms": pct(lat.e2e_ms, 50),
        "e2e_p99_ms": pct(lat.e2e_ms, 99),
        "e2e_max_ms": max(lat.e2e_ms, default=float("nan")),
        "ack_p50_ms": pct(lat.ack_ms, 50),
        "ack_p99_ms": pct(lat.ack_ms, 99),
        "worker_peak_rss_mb": rss_mb,
        "per_second_p50_max_seen": lat.per_second,
    }


async def cleanup(run: Run) -> None:
    settings = run.settings("live")
    for worker in run.workers:
        await worker.stop()
    try:
        dropped = kafka_io.delete_topics(settings, [run.prefix, *run.groups.values()])
        print(f"cleanup: deleted topics {', '.join(dropped) or '(none)'}")
        kafka_io.delete_groups(settings, [*run.groups.values()])
    finally:
        await pg.drop_schemas(settings.database_url, list(run.schemas.values()))
        shutil.rmtree(run.workdir, ignore_errors=True)
        print(f"cleanup: dropped schemas {', '.join(run.schemas.values())}")


async def main_async(args: argparse.Namespace, command: str) -> int:
    run = Run(Settings())
    params = {
        "events": args.events,
        "participants": args.participants,
        "rate": args.rate,
        "latency_seconds": args.latency_seconds,
        "profile": args.profile,
        "profile_phase": args.profile_phase,
        "poll_ms": args.poll_ms,
        "batch_size": run.base.batch_size,
        "batch_within": run.base.batch_within,
        "partitions": run.base.topic_partitions,
        "tag": run.tag,
        "code": _code_version(),
    }
    results = report.header(
        command, params, python=platform.python_version(), machine=platform.machine()
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        await bench(args, run, results)
    finally:
        await cleanup(run)
    results["params"]["mean_event_bytes"] = results["publish"]["mean_event_bytes"]
    results["aims"] = report.aims(results)
    report.write(results, RESULTS / "latest.json")
    print()
    print(report.table(results))
    print(
        f"\nevents: {args.events:,} (mean {results['params']['mean_event_bytes']:.0f} bytes), "
        f"participants: {args.participants:,}, partitions: {run.base.topic_partitions}, "
        f"batch_size: {run.base.batch_size}, cpus: {os.cpu_count()}"
    )
    print(f"results: {RESULTS / 'latest.json'}")
    print(f"command: {command}")
    if args.profile == "py-spy":
        phase = results[args.profile_phase]
        phase["profile_summary"] = _print_profile(Path(phase["profile"]), args.profile_phase)
        report.write(results, RESULTS / "latest.json")
    elif args.profile:
        print(f"profile (pyinstrument): {results['rebuild']['profile']}")
    return 0


def _print_profile(folded: Path, phase: str) -> dict[str, Any]:
    found = summary(folded)
    print("\n" + render(found, f"{phase} worker profile, py-spy --gil"))
    return asdict(found)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = shlex.join(["python", "-m", "bench.throughput", *sys.argv[1:]])
    return asyncio.run(main_async(args, command))


if __name__ == "__main__":
    sys.exit(main())
