"""Background processes of the local stack, tracked by pid files under the data directory.

A pid file holds the pid and the command line, so a reused pid is never taken for
ours. Processes are started detached (own session, parent exits) to outlive `up`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from refnet.events.settings import Settings
from refnet.services.localstack.errors import ProcessFailed, ToolMissing

# A throw-away intermediate starts the real process in its own session and exits at
# once: the process is reparented, never becomes our zombie, and no Popen object of
# ours outlives this call (which would warn "subprocess ... is still running").
_LAUNCHER = """\
import os, subprocess, sys
log = open(sys.argv[1], "ab")
child = subprocess.Popen(
    sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    start_new_session=True,
)
sys.stdout.write(str(child.pid))
sys.stdout.flush()
os._exit(0)
"""

# psutil's start times move with the clock's notion of boot time (a VM's can jump), so
# identity is the command line, which is exact and rarely repeated by a reused pid.


def data_dir(settings: Settings) -> Path:
    """The stack's data directory as an absolute path (the setting may be relative)."""
    return settings.data_path()


def deploy_dir() -> Path:
    """The repository's `deploy/` folder: the Kafka pom, log config and PostgreSQL script."""
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        if (base / "deploy" / "kafka" / "pom.xml").is_file():
            return base / "deploy"
    raise ToolMissing(
        "cannot find deploy/kafka/pom.xml beside the refnet package or in the current "
        "directory; run from the RefNet repository"
    )


def pid_file(settings: Settings, name: str) -> Path:
    """Where the pid of the background process `name` is kept."""
    return data_dir(settings) / "run" / f"{name}.pid"


def log_file(settings: Settings, name: str) -> Path:
    """Where the stdout and stderr of the background process `name` go."""
    return data_dir(settings) / "logs" / f"{name}.log"


def tracked_names(settings: Settings) -> list[str]:
    """Names of all processes with a pid file, running or not, sorted."""
    run = data_dir(settings) / "run"
    return sorted(p.stem for p in run.glob("*.pid")) if run.is_dir() else []


def running_pid(name: str, settings: Settings) -> int | None:
    """The pid of `name` if its pid file names a live process with the recorded command."""
    path = pid_file(settings, name)
    try:
        pid_text, argv_json = path.read_text().split("\n")[:2]
        pid, argv = int(pid_text), json.loads(argv_json)
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE
        same = process.cmdline() == argv
    except (OSError, ValueError, psutil.Error):
        return None
    return pid if alive and same else None


def is_running(name: str, settings: Settings) -> bool:
    """Whether the background process `name` is alive."""
    return running_pid(name, settings) is not None


def run_to_end(
    argv: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` to its end, its output kept as text; the caller judges the exit code.

    Raises `subprocess.TimeoutExpired` after `timeout` seconds.
    """
    return subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def last_output_line(output: str) -> str:
    """The last line a failed child printed, which usually says why."""
    return (output.strip().splitlines() or ["no output"])[-1]


def start_background(
    name: str,
    argv: Sequence[str],
    settings: Settings,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` detached, output appended to its log file; return its pid.

    Does not check whether `name` already runs: callers ask `is_running` first.
    """
    log = log_file(settings, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n")
    try:
        launched = run_to_end([sys.executable, "-c", _LAUNCHER, str(log), *argv], 30, env, cwd)
    except subprocess.TimeoutExpired as exc:
        raise ProcessFailed(f"starting {name} did not finish within 30s") from exc
    if launched.returncode != 0 or not launched.stdout.strip().isdigit():
        reason = last_output_line(launched.stderr)
        raise ProcessFailed(f"could not start {name} ({argv[0]}): {reason}")
    pid = int(launched.stdout.strip())
    path = pid_file(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"{pid}\n{json.dumps(list(argv))}\n")
    temporary.replace(path)
    return pid


def stop_background(name: str, settings: Settings, timeout: float = 30.0) -> bool:
    """SIGTERM `name`, SIGKILL it (and its children) after `timeout`; True if it was running."""
    pid = running_pid(name, settings)
    if pid is None:
        pid_file(settings, name).unlink(missing_ok=True)
        return False
    try:
        process = psutil.Process(pid)
        children = process.children(recursive=True)
        process.terminate()
        if not _wait_gone(process, timeout):
            for victim in [process, *children]:
                try:
                    victim.kill()
                except psutil.NoSuchProcess:
                    pass
            if not _wait_gone(process, 10.0):
                raise ProcessFailed(f"{name} (pid {pid}) did not stop even after SIGKILL")
    except psutil.NoSuchProcess:
        pass
    pid_file(settings, name).unlink(missing_ok=True)
    return True


def _wait_gone(process: psutil.Process, timeout: float) -> bool:
    """Wait until `process` has exited; True if it did within `timeout` seconds.

    Our processes are not our children (see _LAUNCHER): once dead they stay zombies
    until init reaps them, so a zombie counts as gone.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def last_line(log: Path, limit: int = 200) -> str:
    """The most telling line of a log: the last ERROR line, else the last line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [line for line in lines if line and not line.startswith("---")]
    errors = [line for line in lines if "ERROR" in line or "Exception" in line]
    chosen = (errors or lines or ["empty log"])[-1]
    return chosen if len(chosen) <= limit else chosen[: limit - 3] + "..."


def settings_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) plus every setting as `REFNET_*`.

    A child started by the stack then sees the same configuration as the stack, even
    when the stack's settings were built in code rather than from the environment.
    """
    env = dict(os.environ if base is None else base)
    for field, value in settings.model_dump(mode="json").items():
        name = f"REFNET_{field.upper()}"
        if value is None:
            env.pop(name, None)  # unset stays unset: "None" would be read as a value
        elif isinstance(value, dict | list):
            env[name] = json.dumps(value)  # pydantic-settings reads complex values as JSON
        else:
            env[name] = str(value)
    env["REFNET_DATA_DIR"] = str(data_dir(settings))
    return env
