"""Replay and rebuild rates: the log folded in memory, and `refnet projections rebuild` whole.

    python -m bench.audit [--events N] [--participants M]

Publishes the benchmark's signed workload to topics of its own (as bench.throughput
does) and projects it with a live worker. Then, each in a fresh process so that its
peak RSS is its own:

    replay   `LogReplay` over the whole log, part by part as `refnet audit replay` folds
             it: events/s including the read, the fold alone (`LogReplay.rate`), peak RSS
    rebuild  a rebuild of the live model while its worker runs: events/s for the whole
             rebuild, and its phases (fold, write, catch-up, switch, drop)

Peak RSS is the kernel's high-water mark of the measuring process since its exec
(VmHWM): `ru_maxrss` would also count the pages of the parent it was forked
from. The workload is generated and published in slices of at most SLICE
events, so the parent stays small on long logs (--events 2000000).

Removes its topics, consumer groups and schemas at the end, also on failure.
Results: the table, the JSON, and bench/results/audit.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import psutil

from bench import kafka_io, pg
from bench.report import columns, header
from bench.throughput import RESULTS, Run, cleanup
from bench.worker import Worker
from bench.workload import PARTNERS, Raw, history
from refnet.events.settings import Settings
from refnet.projections.audit.log_replay import LogReplay
from refnet.projections.audit.rebuild import Rebuild, SchemaNames
from refnet.projections.store.database import connect_pool
from refnet.projections.worker.log_reader import log_ends
from refnet.projections.worker.projector import classifying_processes
from refnet.projections.worker.signatures import KeyRing
from refnet.services.kafka.topics import ensure_topics
from refnet.services.localstack.process import settings_env
from refnet.services.registry.local_keys import provision_keys

MB = 2**20
SLICE = 200_000  # events generated and published at a time


def parse(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    cli.add_argument("--events", type=int, default=200_000, help="events to publish (N)")
    cli.add_argument("--participants", type=int, default=None, help="participants (default N/10)")
    # Internal: one measured phase in a child process, settings from REFNET_* variables.
    cli.add_argument("--child", choices=["replay", "rebuild"], help=argparse.SUPPRESS)
    args = cli.parse_args(argv)
    args.participants = args.participants or max(1, args.events // 10)
    return args


# ------------------------------------------------------------------- in the child


def _high_water() -> float:
    """This process's peak RSS since its exec, in MB (Linux reports VmHWM in kB)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB


def _rss() -> dict[str, float]:
    """Peak RSS so far of this process and of its largest finished child (the classifying
    processes of a long replay), and this process's RSS now, in MB. The children's figure
    is `ru_maxrss`, which counts what they shared with this process when forked."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / MB
    now = psutil.Process().memory_info().rss / MB
    return {"peak_rss_mb": _high_water(), "child_peak_rss_mb": children, "rss_now_mb": now}


async def _replay(settings: Settings) -> dict[str, Any]:
    pool = await connect_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            keys = await KeyRing.load(conn)
    finally:
        await pool.close()
    ends = log_ends(settings)
    baseline = _rss()["rss_now_mb"]
    started = time.perf_counter()
    replay = LogReplay(settings, keys, ends)
    states = 0
    for part in replay.parts():
        states += len(part.states)
    seconds = time.perf_counter() - started
    return {
        "events": replay.records,
        "seconds": seconds,
        "rate": replay.records / seconds,
        "fold_seconds": replay.seconds,
        "fold_rate": replay.rate,
        "classify_processes": classifying_processes(),
        "participants": states,
        "largest_part": replay.largest_part,
        "dead_letters": replay.dead_letter_count,
        "rejections": replay.rejection_count,
        "baseline_rss_mb": baseline,
        **_rss(),
    }


async def _rebuild(settings: Settings) -> dict[str, Any]:
    baseline = _rss()["rss_now_mb"]
    report = await Rebuild(settings).run()
    return {
        **asdict(report),
        "seconds": report.seconds,
        "rate": report.events / report.seconds,
        "baseline_rss_mb": baseline,
        **_rss(),
    }


def child(phase: str) -> int:
    settings = Settings()
    measure = _replay if phase == "replay" else _rebuild
    print(json.dumps(asyncio.run(measure(settings))))
    return 0


# ------------------------------------------------------------------ in the parent


def _in_child(phase: str, settings: Settings) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.audit", "--child", phase]
    done = subprocess.run(argv, env=settings_env(settings), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{phase} failed ({done.returncode}):\n{done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


Make = Callable[[int, int, str], list[Raw]]
"""A workload slice: (events, participants, seed) -> raw events in log order."""


async def bench(
    args: argparse.Namespace,
    run: Run,
    results: dict[str, Any],
    make: Make = history,
    partners: Sequence[str] = PARTNERS,
) -> None:
    n, live = args.events, run.settings("live")
    ensure_topics(live)
    await provision_keys(live, partners)
    seconds = 0.0
    for index, (events, participants) in enumerate(_slices(n, args.participants)):
        raws = make(events, participants, run.tag if index == 0 else f"{run.tag}-{index}")
        seconds += kafka_io.validated_publish(live, raws)
        del raws
    results["publish"] = {"seconds": seconds, "rate": n / seconds}
    print(f"published {n:,} signed events in {seconds:.1f} s")

    worker = Worker(live, run.workdir, RESULTS / "worker-audit.log")
    run.workers.append(worker)
    worker.start()
    projected = await worker.caught_up(n, timeout=60 + n / 500)
    results["projection"] = {"seconds": projected.seconds, "rate": projected.rate}
    print(f"live projection from empty: {projected.rate:,.0f} ev/s in {projected.seconds:.1f} s")
    before = await _counts(live)

    results["replay"] = await asyncio.to_thread(_in_child, "replay", live)
    print(f"replay: {results['replay']['rate']:,.0f} ev/s")
    results["rebuild"] = await asyncio.to_thread(_in_child, "rebuild", live)
    print(f"rebuild: {results['rebuild']['rate']:,.0f} ev/s")

    # The worker carries on in the rebuilt model, which holds what the old one held.
    await worker.caught_up(n, timeout=60)
    results["rebuild"]["read_model"] = after = await _counts(live)
    results["rebuild"]["equal_counts"] = after == before
    results["worker_alive"] = worker.proc is not None and worker.proc.poll() is None


def _slices(events: int, participants: int) -> list[tuple[int, int]]:
    """(events, participants) of each slice of the workload: other people in each, so the
    log holds `participants` people over `events` events."""
    count = max(1, -(-events // SLICE))
    return [
        (
            events * (i + 1) // count - events * i // count,
            max(1, participants * (i + 1) // count - participants * i // count),
        )
        for i in range(count)
    ]


async def _counts(settings: Settings) -> dict[str, int]:
    conn = await pg.connect(settings.database_url, settings.read_model_schema)
    try:
        return await pg.read_model_counts(conn)
    finally:
        await conn.close()


def _row(measure: str, result: str, detail: str = "") -> tuple[str, str, str]:
    return (measure, result, detail)


def table(r: dict[str, Any]) -> str:
    events = r["params"]["events"]
    rp, rb = r["replay"], r["rebuild"]
    phases = rb["phases"]
    rows = [
        _row("measure", "result", "detail"),
        _row("live projection from empty", f"{r['projection']['rate']:,.0f} ev/s",
             f"{r['projection']['seconds']:.1f} s, a worker process"),
        _row("replay: read + fold", f"{rp['rate']:,.0f} ev/s", f"{rp['seconds']:.1f} s"),
        _row("replay: fold only (LogReplay.rate)", f"{rp['fold_rate']:,.0f} ev/s",
             f"{rp['fold_seconds']:.1f} s in the main process; "
             f"{rp['classify_processes']} classifying processes"),
        _row("replay: peak RSS", f"{rp['peak_rss_mb']:,.0f} MB",
             f"{(rp['peak_rss_mb'] - rp['baseline_rss_mb']) * MB / events:,.0f} bytes/event "
             f"above {rp['baseline_rss_mb']:,.0f} MB at start; "
             f"largest classifying process {rp['child_peak_rss_mb']:,.0f} MB; "
             f"at most {rp['largest_part']:,} states at once"),
        _row("rebuild: whole", f"{rb['rate']:,.0f} ev/s", f"{rb['seconds']:.1f} s"),
    ]  # fmt: skip
    for name in ("prepare", "fold", "write", "catch_up", "switch", "drop"):
        detail = {
            "fold": f"{events / phases['fold']:,.0f} ev/s with the read",
            "write": f"{events / phases['write']:,.0f} ev/s, COPY + ANALYZE",
            "catch_up": f"{rb['caught_up']:,} events",
            "switch": f"live offsets locked {rb['locked_seconds'] * 1000:.0f} ms, "
            f"{rb['switch_attempts']} attempt(s)",
        }.get(name, "")
        rows.append(_row(f"  {name.replace('_', '-')}", f"{phases[name]:.2f} s", detail))
    rows += [
        _row("rebuild: peak RSS", f"{rb['peak_rss_mb']:,.0f} MB",
             f"above {rb['baseline_rss_mb']:,.0f} MB at start"),
        _row("rebuilt model", "same counts" if rb["equal_counts"] else "COUNTS DIFFER",
             ", ".join(f"{k} {v:,}" for k, v in rb["read_model"].items())),
    ]  # fmt: skip
    return columns(rows)


async def main_async(args: argparse.Namespace, command: str) -> int:
    run = Run(Settings())
    params = {
        "events": args.events,
        "participants": args.participants,
        "partitions": run.base.topic_partitions,
        "tag": run.tag,
    }
    results = header(command, params)
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        await bench(args, run, results)
    finally:
        await cleanup(run)
        names = SchemaNames(run.schemas["live"])
        await pg.drop_schemas(run.base.database_url, [names.next, names.retired])
    (RESULTS / "audit.json").write_text(json.dumps(results, indent=2))
    print()
    print(table(results))
    print()
    print(json.dumps(results, indent=2))
    print(f"results: {RESULTS / 'audit.json'}")
    print(f"command: {command}")
    return 0 if results["rebuild"]["equal_counts"] and results["worker_alive"] else 1


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        return child(args.child)
    command = shlex.join(["python", "-m", "bench.audit", *sys.argv[1:]])
    return asyncio.run(main_async(args, command))


if __name__ == "__main__":
    sys.exit(main())
