"""Profiling the rebuild worker with py-spy (attached by pid) and summarising its raw stacks."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


class PySpy:
    """`py-spy record` attached to a process, stopped (and its file written) on demand."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        exe = Path(sys.executable).with_name("py-spy")
        self.out = out
        self.proc = subprocess.Popen(
            [str(exe), "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
             "--rate", str(rate), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    where = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{match['func']} ({where})"


def top(folded: Path, n: int = 25) -> tuple[int, list[tuple[str, float, float]]]:
    """Samples, and the top functions as (name, self %, total %) by total time."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    ranked = sorted(total, key=lambda k: (-total[k], -own[k]))[:n]
    return samples, [(k, 100 * own[k] / samples, 100 * total[k] / samples) for k in ranked]


def top_self(folded: Path, n: int = 25) -> list[tuple[str, float]]:
    """The functions where the samples land (self time), most first."""
    samples, _ = top(folded, 0)
    own: Counter[str] = Counter()
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")[1:]
        if frames and count_text.isdigit():
            own[_name(frames[-1])] += int(count_text)
    return [(k, 100 * v / max(1, samples)) for k, v in own.most_common(n)]
