"""A world served by a real `refnet serve` process, and figures printed past the capture."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from refnet.services.localstack.process import settings_env

if TYPE_CHECKING:
    from tests.integration.world import World


# ------------------------------------------------------------------ a served API


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served_api(world: World, log: Path) -> Iterator[str]:
    """A real `refnet serve` process on a free port for `world`; yields its base URL.

    Its output goes to `log`, which is quoted if it exits or never answers; it is
    stopped on exit, also when the body fails.
    """
    with served_api_process(world, log) as (base_url, _process):
        yield base_url


@contextmanager
def served_api_process(
    world: World, log: Path, workers: int = 1
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As `served_api`, also yielding the process, for tests that kill it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "refnet.services.cli.main", "serve"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    env = settings_env(world.settings) | {"PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(process, base_url, log)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    """Block until the server answers its schema; raise with its log if it exits or never does."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"refnet serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/openapi.json", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling for the server to come up
    raise RuntimeError(f"refnet serve did not answer within 60s:\n{log.read_text()}")


# ------------------------------------------------------------------ reporting


def show_in_terminal(request: Any, lines: Iterable[str]) -> None:
    """Print `lines` to the terminal past pytest's capture (figures a run should show)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
