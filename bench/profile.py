"""Profiling a worker with py-spy (attached by pid) and summarising its raw stacks."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Frames that wrap everything (start-up, event loop, threads): left out of the ranking.
_WRAPPERS = (
    "asyncio/",
    "typer/",
    "click/",
    "<frozen runpy>",
    "mode/worker.py",
    "mode/threads.py",
    "threading.py",
    "services/cli/",
    "run_worker (",
    "Service._execute_task (",
    "faust/agents/agent.py",
)


class PySpy:
    """`py-spy record` attached to a process, stopped (and its file written) on demand.

    Only samples holding the GIL are kept (`--gil`): they show where the worker's Python
    CPU goes; waiting on sockets and the other thread's GIL wait are left out.
    """

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        exe = Path(sys.executable).with_name("py-spy")
        self.out = out
        self.rate = rate
        argv = [
            str(exe),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(out),
            "--rate",
            str(rate),
            "--nonblocking",
            "--gil",
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


_REPO = str(Path(__file__).resolve().parents[1]) + "/"
_STDLIB = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/"


def _where(frame: str) -> tuple[str, str]:
    """(function, file relative to site-packages / the repository / the stdlib)."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    where = match["file"]
    for marker in ("site-packages/", _REPO, _STDLIB):
        if marker in where:
            where = where.split(marker, 1)[1]
    return match["func"], where


def _package(where: str) -> str:
    head = where.split("/", 1)[0]
    if head in ("events", "projections", "services"):
        return f"refnet.{head}"
    return head.removesuffix(".py") if "/" in where or where.endswith(".py") else where


def _stacks(folded: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([_where(f) for f in stack.split(";")], int(count)))
    return stacks


# Where a sample's time belongs: the first rule whose function appears in its stack.
CATEGORIES = [
    ("classify: decode + validate", ("decode (events/codec.py)",)),
    ("classify: fact_of", ("fact_of (projections/facts.py)",)),
    ("store: load states (JSON → facts)", ("ParticipantState.from_json",)),
    ("store: derive rows (fold)", ("derive (projections/fold.py)",)),
    ("store: state → JSON", ("ParticipantState.to_json",)),
    (
        "store: COPY rows (Python + asyncpg)",
        ("_copy (projections/store.py)", "Connection.copy_records_to_table"),
    ),
    ("store: other (SQL calls, bookkeeping)", ("OutcomeStore.apply_batch",)),
    ("projector/app: other", ("Projector.project", "_project_batch")),
    ("aiokafka: fetch, parse records", ("(aiokafka/",)),
    ("faust/mode: stream, buffer, acks", ("(faust/", "(mode/")),
    ("asyncpg: protocol callbacks", ("(asyncpg/",)),
    ("asyncio loop, other", ("",)),
]


@dataclass
class Summary:
    samples: int
    total: list[tuple[str, float, float]]  # function, total %, self %
    own: list[tuple[str, float]]  # function, self %
    packages: list[tuple[str, float]]  # package, self %
    categories: list[tuple[str, float]]  # CATEGORIES, % of samples


def summary(folded: Path, n: int = 20) -> Summary:
    """Samples; top functions by total and self %; self % by package."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    samples = 0
    for frames, count in _stacks(folded):
        samples += count
        names = [f"{f} ({w})" for f, w in frames]
        kind = next(k for k, marks in CATEGORIES if any(m in n for m in marks for n in names))
        kinds[kind] += count
        func, where = frames[-1]
        own[f"{func} ({where})"] += count
        packages[_package(where)] += count
        for name in {f"{f} ({w})" for f, w in frames}:
            if not any(w in name for w in _WRAPPERS):
                total[name] += count
    pct = 100 / max(1, samples)
    return Summary(
        samples,
        [(k, v * pct, own[k] * pct) for k, v in total.most_common(n)],
        [(k, v * pct) for k, v in own.most_common(n)],
        [(k, v * pct) for k, v in packages.most_common(12)],
        [(k, kinds[k] * pct) for k, _ in CATEGORIES],
    )


def render(found: Summary, title: str) -> str:
    lines = [f"{title} ({found.samples} samples holding the GIL)"]
    lines.append("     %  where the worker's Python time goes")
    lines += [f" {s:5.1f}  {k}" for k, s in found.categories]
    lines.append(" total%  self%  function (by total; event-loop and start-up wrappers left out)")
    lines += [f" {t:6.1f} {s:6.1f}  {k}" for k, t, s in found.total]
    lines.append(" self%  function (by self)")
    lines += [f" {s:5.1f}  {k}" for k, s in found.own]
    lines.append(" self%  package of the running function")
    lines += [f" {s:5.1f}  {k}" for k, s in found.packages]
    return "\n".join(lines)
