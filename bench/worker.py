"""One projection worker subprocess: started, watched (RSS, CPU), timed to catch-up, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

from bench.pg import connect
from refnet.events.settings import Settings
from refnet.projections.worker.catchup import wait_caught_up
from refnet.services.localstack.process import settings_env

WORKER = ["-m", "refnet.services.cli.main", "projections", "run"]
SAMPLE_EVERY = 0.2


@dataclass
class CatchUp:
    """How one worker run went from its start to having applied the whole log."""

    events: int
    seconds: float  # from process start to caught up
    first_applied_after: float  # process start to the first applied offset (start-up)
    peak_rss_mb: float  # the process tree: the worker and its classifying processes
    cpu_seconds: float  # the worker's user+system CPU over the run
    wal_bytes: int  # PostgreSQL WAL written meanwhile (whole server; the stack is idle)
    progress: list[tuple[float, int]] = field(default_factory=list)
    main_peak_rss_mb: float = 0.0  # the worker process alone
    child_cpu_seconds: float = 0.0  # its bulk fold's and classifying processes' CPU

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def steady_rate(self) -> float:
        """Rate once events flow: start-up (import, join, rebalance, migrate) excluded."""
        applied_at_first = next((n for _, n in self.progress if n > 0), 0)
        return (self.events - applied_at_first) / max(1e-9, self.seconds - self.first_applied_after)


class Worker:
    """`refnet projections run` in a child process with the benchmark's settings."""

    def __init__(self, settings: Settings, workdir: Path, log: Path, profile: str | None = None):
        self.settings = settings
        self.workdir = workdir  # faust writes `<app id>-data/` into its working directory
        self.log = log
        self.profile = profile  # pyinstrument output path (.txt/.html), or None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.peak_rss = 0
        self.peak_main_rss = 0
        self.cpu = 0.0
        self.child_cpu: dict[int, float] = {}  # last seen per child: they end with the backlog
        self._sampler: asyncio.Task[None] | None = None

    def start(self) -> None:
        argv = [sys.executable, *WORKER]
        if self.profile is not None:
            argv = [sys.executable, "-m", "pyinstrument", "-o", self.profile, *WORKER]
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=settings_env(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._sampler = asyncio.get_running_loop().create_task(self._sample())

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def _sample(self) -> None:
        root = psutil.Process(self.pid)
        while True:
            try:
                children = root.children(recursive=True)
                main = root.memory_info().rss
                rss = main + sum(_rss(p) for p in children)
                self.peak_rss = max(self.peak_rss, rss)
                self.peak_main_rss = max(self.peak_main_rss, main)
                times = root.cpu_times()
                self.cpu = times.user + times.system
                for child in children:
                    with contextlib.suppress(psutil.Error):
                        spent = child.cpu_times()
                        self.child_cpu[child.pid] = spent.user + spent.system
            except psutil.Error:
                return
            await asyncio.sleep(SAMPLE_EVERY)

    def reset_peak(self) -> None:
        self.peak_rss = 0
        self.peak_main_rss = 0

    async def caught_up(self, events: int, timeout: float) -> CatchUp:
        """Wait, polling the lag, until the read model has applied the whole log."""
        conn = await connect(self.settings.database_url, self.settings.read_model_schema)
        wal_start = await conn.fetchval("SELECT pg_current_wal_lsn()")
        progress: list[tuple[float, int]] = []

        def seen(applied: int, _end: int) -> None:
            progress.append((time.perf_counter() - self.started, applied))

        try:
            waiting = asyncio.ensure_future(self._wait(conn, seen, timeout))
            while not waiting.done():
                if self.proc is not None and self.proc.poll() is not None:
                    waiting.cancel()
                    raise RuntimeError(f"worker exited with {self.proc.returncode}: {self.log}")
                await asyncio.wait({waiting}, timeout=0.1)
            waiting.result()
            wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", wal_start)
        finally:
            await conn.close()
        elapsed = time.perf_counter() - self.started
        first = next((t for t, n in progress if n > 0), elapsed)
        rss = self.peak_rss / 2**20
        return CatchUp(
            events,
            elapsed,
            first,
            rss,
            self.cpu,
            int(wal),
            progress,
            self.peak_main_rss / 2**20,
            sum(self.child_cpu.values()),
        )

    async def _wait(
        self, conn: asyncpg.Connection, seen: Callable[[int, int], None], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:  # the worker creates the tables when it starts: until then, nothing applied
                await wait_caught_up(conn, self.settings, timeout, seen, poll=0.1)
                return
            except asyncpg.UndefinedTableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (faust stops cleanly; a profiler writes its report), SIGKILL if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        if self._sampler is not None:
            self._sampler.cancel()
        return self.proc.returncode


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:  # ended between listing and reading
        return 0
