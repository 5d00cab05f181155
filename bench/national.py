"""A national programme on this machine: many networks' partners on one log, through
publish, live projection, replay and rebuild, and the live projection against workers
and partitions.

    python -m bench.national [--networks 400] [--events 20000000] [--sweep-events 200000]

Each network has the demo network's seven partners under its own ids (`n007-awo-en`,
...), each with its own signing key; a participant belongs to one network (a hash of its
pseudonym) and is referred only within it. The phases are bench.audit's, each in a
fresh process for its own peak RSS: validated signed publish, a live worker from empty,
`refnet audit replay`'s fold, and a rebuild beside the live model. The sweep then
publishes `--sweep-events` to a log of each partition count and times the live
projection from empty with 1, 2 and 4 workers in one group; `bench/figures/national.png`
plots it. Removes its topics, groups and schemas at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import zlib
from pathlib import Path
from typing import Any

from bench import audit, kafka_io, pg
from bench.report import columns, header
from bench.throughput import RESULTS, Run, cleanup
from bench.worker import Worker
from bench.workload import PARTNERS, Raw, history
from refnet.events.catalogue import NETWORK
from refnet.events.settings import Settings
from refnet.projections.audit.rebuild import SchemaNames
from refnet.services.kafka.topics import ensure_topics

PLOT = Path("bench/figures/national.png")  # committed: the README shows it


def parse(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m bench.national", description=__doc__)
    cli.add_argument("--networks", type=int, default=400, help="networks of 7 partners each")
    cli.add_argument("--events", type=int, default=20_000_000, help="events on the log")
    cli.add_argument("--participants", type=int, default=None, help="participants (N/10)")
    cli.add_argument("--sweep-events", type=int, default=200_000, help="events per sweep run")
    cli.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    cli.add_argument("--partitions", type=int, nargs="+", default=[12, 24])
    args = cli.parse_args(argv)
    args.participants = args.participants or max(1, args.events // 10)
    return args


def network_partner(network: int, partner: str) -> str:
    return partner if partner == NETWORK else f"n{network:03d}-{partner}"


def partners(networks: int) -> list[str]:
    return [network_partner(k, p) for k in range(networks) for p in PARTNERS]


def national(networks: int) -> audit.Make:
    """bench.workload's history, each participant moved into one of `networks` networks."""

    def make(events: int, participants: int, seed: str) -> list[Raw]:
        raws = history(events, participants, seed)
        for raw in raws:
            network = zlib.crc32(raw["participant_id"].encode()) % networks
            raw["partner_id"] = network_partner(network, raw["partner_id"])
            data = raw.get("data")
            if isinstance(data, dict) and "to_partner" in data:
                data["to_partner"] = network_partner(network, data["to_partner"])
        return raws

    return make


async def sweep(args: argparse.Namespace, run: Run) -> list[dict[str, Any]]:
    """The live projection from empty over one log per partition count, by workers."""
    rows, schemas = [], []
    n = args.sweep_events
    for count in args.partitions:
        log = run.settings("live").model_copy(
            update={
                "topic_events": f"{run.prefix}.sweep{count}",
                "topic_dead_letter": f"{run.prefix}.sweep{count}.dead-letter",
                "topic_partitions": count,
                "worker_metrics_port": 0,
            }
        )
        ensure_topics(log)
        kafka_io.validated_publish(log, national(args.networks)(n, n // 10, f"{run.tag}-s"))
        for workers in args.workers:
            name = f"{run.schemas['live']}_s{count}w{workers}"
            schemas.append(name)
            group = log.model_copy(
                update={"consumer_group": f"{run.groups['live']}-s{count}w{workers}",
                        "read_model_schema": name}
            )  # fmt: skip
            started = [
                Worker(group, run.workdir, RESULTS / f"worker-national-{count}-{workers}-{i}.log")
                for i in range(workers)
            ]
            run.workers += started
            for worker in started:
                worker.start()
            caught = await started[0].caught_up(n, timeout=120 + n / 200)
            cpu = sum(w.cpu + sum(w.child_cpu.values()) for w in started)
            rows.append(
                {"partitions": count, "workers": workers, "rate": caught.rate,
                 "seconds": caught.seconds, "cpu_seconds": cpu,
                 "peak_rss_mb": sum(w.peak_rss for w in started) / 2**20}
            )  # fmt: skip
            print(f"sweep: {count} partitions, {workers} workers: {caught.rate:,.0f} ev/s")
            for worker in started:
                await worker.stop()
    await pg.drop_schemas(run.base.database_url, schemas)
    return rows


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for count in sorted({r["partitions"] for r in rows}):
        mine = sorted((r for r in rows if r["partitions"] == count), key=lambda r: r["workers"])
        axes.plot([r["workers"] for r in mine], [r["rate"] for r in mine], marker="o",
                  label=f"{count} partitions")  # fmt: skip
    axes.set_xlabel("workers in one group (one machine, 2 cores)")
    axes.set_ylabel("live projection from empty, events/s")
    axes.set_xticks(sorted({r["workers"] for r in rows}))
    axes.set_ylim(bottom=0)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def table(r: dict[str, Any]) -> str:
    rows = [
        ("phase", "events/s", "peak RSS", "detail"),
        ("validated signed publish", f"{r['publish']['rate']:,.0f}", "",
         f"{r['publish']['seconds']:.0f} s"),
        ("live projection from empty", f"{r['projection']['rate']:,.0f}", "",
         f"{r['projection']['seconds']:.0f} s, one worker"),
        ("replay (read, verify, fold)", f"{r['replay']['rate']:,.0f}",
         f"{r['replay']['peak_rss_mb']:,.0f} MB", f"{r['replay']['seconds']:.0f} s"),
        ("rebuild beside the live model", f"{r['rebuild']['rate']:,.0f}",
         f"{r['rebuild']['peak_rss_mb']:,.0f} MB", f"{r['rebuild']['seconds']:.0f} s"),
    ]  # fmt: skip
    rows += [
        (f"  sweep: {s['partitions']} partitions, {s['workers']} workers", f"{s['rate']:,.0f}",
         f"{s['peak_rss_mb']:,.0f} MB", f"{s['seconds']:.0f} s, {s['cpu_seconds']:.0f} s CPU")
        for s in r.get("sweep", [])
    ]  # fmt: skip
    return columns(rows)


async def main_async(args: argparse.Namespace, command: str) -> int:
    run = Run(Settings())
    params = {
        "networks": args.networks,
        "partners": args.networks * len(PARTNERS),
        "events": args.events,
        "participants": args.participants,
        "partitions": run.base.topic_partitions,
        "tag": run.tag,
    }
    results = header(command, params)
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        make = national(args.networks)
        await audit.bench(args, run, results, make=make, partners=partners(args.networks))
        results["sweep"] = await sweep(args, run)
    finally:
        await cleanup(run)
        names = SchemaNames(run.schemas["live"])
        await pg.drop_schemas(run.base.database_url, [names.next, names.retired])
    (RESULTS / "national.json").write_text(json.dumps(results, indent=2))
    title = f"{args.networks} networks, {args.sweep_events:,} events per run"
    plot(results["sweep"], PLOT, title)
    print()
    print(table(results))
    print(f"plot: {PLOT}; results: {RESULTS / 'national.json'}")
    print(f"command: {command}")
    return 0 if results["rebuild"]["equal_counts"] and results["worker_alive"] else 1


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = shlex.join(["python", "-m", "bench.national", *sys.argv[1:]])
    return asyncio.run(main_async(args, command))


if __name__ == "__main__":
    sys.exit(main())
