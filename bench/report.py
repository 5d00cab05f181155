"""The benchmark's table, its aims, and the JSON it leaves in bench/results/."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

AIMS: dict[str, tuple[str, Callable[[float], bool]]] = {  # name: (aim text, check)
    "validated_publish": ("≥ 50,000 ev/s", lambda v: v >= 50_000),
    "projection": ("≥ 25,000 ev/s", lambda v: v >= 25_000),
    "rebuild": ("≥ 25,000 ev/s", lambda v: v >= 25_000),
    "e2e_p99_ms": ("≤ 100 ms", lambda v: v <= 100),
    "peak_rss_mb": ("≤ 300 MB", lambda v: v <= 300),
}


def header(command: str, params: dict[str, Any], **host: object) -> dict[str, Any]:
    """What every results file opens with: how it was run, when, with what, and where."""
    return {
        "command": command,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "params": params,
        "host": {"cpus": os.cpu_count(), **host},
    }


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns two spaces apart, each as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def finish(results: dict[str, Any], path: Path, text: str, command: str) -> None:
    """Keep `results` as JSON at `path`, then print `text`, where they are and the command."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(text)
    print()
    print(f"results: {path}")
    print(f"command: {command}")


def aims(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each aim with its value; `met` is None where a profiler perturbed the figure."""
    profiled = r["params"]["profile"] and r["params"]["profile_phase"]
    runs = [r[k] for k in ("projection", "rebuild") if k != profiled]
    values = {
        "validated_publish": r["publish"]["validated_rate"],
        "projection": r["projection"]["rate"],
        "rebuild": r["rebuild"]["rate"],
        "e2e_p99_ms": r["latency"]["e2e_p99_ms"],
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }
    perturbed = {"rebuild": "rebuild", "latency": "e2e_p99_ms"}.get(profiled or "")
    return {
        name: {
            "aim": text,
            "value": values[name],
            "met": None if name == perturbed else bool(check(values[name])),
        }
        for name, (text, check) in AIMS.items()
    }


def _rate(v: float) -> str:
    return f"{v:,.0f} ev/s"


def _status(r: dict[str, Any], name: str) -> tuple[str, str]:
    aim = r["aims"][name]
    return aim["aim"], {True: "met", False: "SHORT", None: "profiled"}[aim["met"]]


def table(r: dict[str, Any]) -> str:
    p, b, lat = r["publish"], r["baselines"], r["latency"]
    consume, copy = b["raw_consume_rate"], b["raw_copy_rate"]
    rows: list[tuple[str, ...]] = [
        ("measure", "result", "beside it", "ratio", "aim", "status"),
        ("build models (validation) only", _rate(p["build_rate"]), "", "", "", ""),
        ("canonical encode only (build+encode − build)", _rate(p["encode_rate"]), "", "", "", ""),
        (
            "validated publish (Publisher)",
            _rate(p["validated_rate"]),
            f"raw produce {_rate(p['raw_rate'])}",
            f"{p['ratio']:.2f}",
            *_status(r, "validated_publish"),
        ),
    ]
    for key, label in (("projection", "live projection"), ("rebuild", "rebuild from empty")):
        run = r[key]
        rows += [
            (
                f"{label}, start → caught up",
                _rate(run["rate"]),
                f"consume {_rate(consume)}",
                f"{run['rate'] / consume:.3f}",
                *_status(r, key),
            ),
            ("", "", f"COPY {_rate(copy)}", f"{run['rate'] / copy:.3f}", "", ""),
            (
                f"  {label}, once flowing",
                _rate(run["steady_rate"]),
                f"start-up {run['startup_s']:.2f} s",
                "",
                "",
                "",
            ),
            (
                f"  {label}, worker CPU",
                f"{run['cpu_seconds']:.1f} s of {run['seconds']:.1f} s",
                f"{run['cpu_seconds'] / run['seconds']:.0%} of a core; its bulk fold and "
                f"classifying processes {run.get('child_cpu_seconds', 0.0):.1f} s",
                "",
                "",
                "",
            ),
            (
                f"  {label}, PostgreSQL WAL written",
                f"{run['wal_bytes'] / 2**20:,.0f} MB",
                f"{run['wal_bytes'] / r['params']['events']:,.0f} bytes per event",
                "",
                "",
                "",
            ),
        ]
    live = r["projection"]
    rows.insert(
        6,
        (
            "  live projection, writes",
            f"{live['rewrites_per_event']:.2f} participant rewrites/ev",
            f"{live['state_rows_inserted']:,} state rows written",
            "",
            "",
            "",
        ),
    )
    if "peer" in r:
        peer = r["peer"]
        rows.insert(
            7,
            (
                "  peer: eventsourcing ProjectionRunner",
                peer["projection_rate"],
                f"{peer['events']:,} events, 1 txn/event; its write {peer['write_rate']} "
                "(100/save)",
                f"×{r['projection']['rate'] / peer['projection_rate_value']:.1f}",
                "",
                "",
            ),
        )
    rss = r["aims"]["peak_rss_mb"]["value"]  # profiled runs left out
    rows += [
        (
            "worker peak RSS (process tree)",
            f"{rss:.0f} MB",
            f"live {r['projection']['peak_rss_mb']:.0f}, rebuild {r['rebuild']['peak_rss_mb']:.0f}",
            "",
            *_status(r, "peak_rss_mb"),
        ),
        (
            "  the live worker process alone",
            f"{r['rebuild'].get('main_peak_rss_mb', 0.0):.0f} MB",
            f"live {r['projection'].get('main_peak_rss_mb', 0.0):.0f} (to caught up); serving "
            f"the probe {lat['worker_peak_rss_mb']:.0f} (process tree)",
            "",
            "",
            "",
        ),
        (
            f"e2e latency at {lat['rate']:,.0f} ev/s, p50",
            f"{lat['e2e_p50_ms']:.1f} ms",
            f"{lat['seen']:,}/{lat['sent']:,} seen",
            "",
            "",
            "",
        ),
        (
            "e2e latency p99",
            f"{lat['e2e_p99_ms']:.1f} ms",
            f"max {lat['e2e_max_ms']:.1f} ms",
            "",
            *_status(r, "e2e_p99_ms"),
        ),
        (
            "  publish → broker ack p50/p99",
            f"{lat['ack_p50_ms']:.1f} / {lat['ack_p99_ms']:.1f} ms",
            "",
            "",
            "",
            "",
        ),
    ]
    noise = r.get("noise", {})
    rows.append(
        (
            "unrelated CPU load during each phase",
            " / ".join(f"{noise[k]['other_cores']:.2f}" for k in noise) + " cores",
            " / ".join(noise),
            "",
            "",
            "",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def write(r: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, indent=2, default=str) + "\n")
