"""The PII scan's rate: `refnet privacy scan`'s work over a log, beside raw consumption.

    python -m bench.scan [--events N] [--participants M]

Publishes the benchmark's workload (plus one sealed contact event per participant) to a
topic of its own, then times three passes over it:

    raw      a plain confluent-kafka consumer reading every message (the floor)
    read     the shared log reader (`read_log`) alone, as replays and the scan use it
    scan     `scan_log`: the read, every record decoded and searched for personal data

Needs only the broker (no PostgreSQL). Removes its topic and groups at the end, also
on failure. Results: the table, the JSON, and bench/results/scan.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import time
import uuid
from typing import Any

from bench import kafka_io
from bench.throughput import RESULTS, Run
from bench.workload import history
from refnet.events import catalogue as c
from refnet.events.codec import encode
from refnet.events.contact import ContactDetails
from refnet.events.sealing import new_data_key, seal_contact
from refnet.events.settings import Settings
from refnet.projections.worker.log_reader import log_ends, read_log
from refnet.services.privacy.scan import scan_log


def parse(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m bench.scan", description=__doc__)
    cli.add_argument("--events", type=int, default=200_000, help="workload events (N)")
    cli.add_argument("--participants", type=int, default=None, help="participants (default N/10)")
    args = cli.parse_args(argv)
    args.participants = args.participants or max(1, args.events // 10)
    return args


def _contact(participant_id: str, partner_id: str, n: int) -> c.ContactRecorded:
    """A contact event as the doors make it: details sealed under a data key."""
    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    event_id = uuid.uuid4()
    details = ContactDetails(name=f"Person {n}", phone=f"0176 {1_000_000 + n}")
    sealed = seal_contact(
        new_data_key(),
        details,
        event_id=str(event_id),
        participant_id=participant_id,
        partner_id=partner_id,
    )
    return c.ContactRecorded(
        event_id=event_id,
        partner_id=partner_id,
        site="witten",
        participant_id=participant_id,
        occurred_at=at,
        recorded_at=at,
        data=c.ContactRecordedData(sealed=sealed),
    )


def records(args: argparse.Namespace, seed: str) -> list[tuple[bytes, bytes]]:
    """The workload encoded as on the log, one sealed contact per participant added."""
    events = [kafka_io.build(raw) for raw in history(args.events, args.participants, seed)]
    intake: dict[str, str] = {}  # each participant's contact, recorded by the first partner
    for event in events:
        intake.setdefault(event.participant_id, event.partner_id)
    events += [_contact(pid, partner, n) for n, (pid, partner) in enumerate(intake.items())]
    return [(e.participant_id.encode(), encode(e)) for e in events]


def _timed_read(settings: Settings) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in read_log(settings, log_ends(settings)))
    return count, time.perf_counter() - started


def bench(args: argparse.Namespace, run: Run, results: dict[str, Any]) -> bool:
    settings = run.settings("live")
    kafka_io.create_topic(settings, settings.topic_events)
    pairs = records(args, run.tag)
    n = len(pairs)
    results["params"]["records"] = n
    seconds = kafka_io.raw_produce(settings, settings.topic_events, pairs)
    del pairs
    print(f"published {n:,} records in {seconds:.1f} s")
    raw = kafka_io.raw_consume(settings, settings.topic_events, n, run.groups["raw"])
    results["raw"] = {"seconds": raw, "rate": n / raw}
    read, read_seconds = _timed_read(settings)
    results["read"] = {"records": read, "seconds": read_seconds, "rate": read / read_seconds}
    report = scan_log(settings)
    results["scan"] = {
        "records": report.records,
        "seconds": report.seconds,
        "rate": report.rate,
        "findings": len(report.findings),
        "search_only_rate": n / max(report.seconds - read_seconds, 1e-9),
    }
    for name in ("raw", "read", "scan"):
        print(f"{name}: {results[name]['rate']:,.0f} records/s")
    return report.records == n and report.clean


def table(r: dict[str, Any]) -> str:
    raw, read, sc = r["raw"], r["read"], r["scan"]
    rows = [
        ("measure", "result", "detail"),
        ("raw consume", f"{raw['rate']:,.0f} ev/s", f"{raw['seconds']:.1f} s, plain consumer"),
        ("log reader", f"{read['rate']:,.0f} ev/s", f"{read['seconds']:.1f} s, read_log alone"),
        ("privacy scan", f"{sc['rate']:,.0f} ev/s",
         f"{sc['seconds']:.1f} s, read + decode + search; {sc['findings']} findings"),
        ("  search alone", f"{sc['search_only_rate']:,.0f} ev/s", "scan minus the reader's time"),
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(col.ljust(w) for col, w in zip(row, widths, strict=True)) for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = shlex.join(["python", "-m", "bench.scan", *sys.argv[1:]])
    run = Run(Settings())
    results: dict[str, Any] = {
        "command": command,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "params": {"events": args.events, "participants": args.participants, "tag": run.tag},
        "host": {"cpus": os.cpu_count()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    settings = run.settings("live")
    try:
        ok = bench(args, run, results)
    finally:
        dropped = kafka_io.delete_topics(settings, [run.prefix])
        kafka_io.delete_groups(settings, [*run.groups.values()])
        print(f"cleanup: deleted topics {', '.join(dropped) or '(none)'}")
    (RESULTS / "scan.json").write_text(json.dumps(results, indent=2))
    print()
    print(table(results))
    print()
    print(f"results: {RESULTS / 'scan.json'}")
    print(f"command: {command}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
