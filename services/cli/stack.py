"""`refnet stack ...`: start, stop and inspect the local stack (Kafka, PostgreSQL, worker, API).

Thin commands over `refnet.services.localstack.stack`; expected failures print one red line, exit 1.
"""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from refnet.events.settings import Settings
from refnet.services.cli.console import console, fail, friendly, run
from refnet.services.cli.root import cli_settings, load_settings
from refnet.services.localstack import stack
from refnet.services.localstack.kafka_tools import TOOLS, run_tool
from refnet.services.localstack.process import data_dir, tracked_names

stack_app = typer.Typer(
    help="Start, stop and inspect the local stack: Kafka broker, PostgreSQL, worker and API.",
    no_args_is_help=True,
)


def service_processes(settings: Settings) -> list[stack.BackgroundProcess]:
    """The processes `stack up` starts after the broker, topics and PostgreSQL.

    They run detached, with every setting exported as REFNET_*, output in
    <data_dir>/logs/<name>.log; `stack down` and `stack status` find them by name.
    """
    refnet = [sys.executable, "-m", "refnet.services.cli.main"]
    return [
        # Supervised: a worker that ends (the broker's quorum lost, say) starts again.
        (stack.WORKER, [*refnet, "projections", "run", "--supervise"]),
        (stack.WEBHOOKS, [*refnet, "partners", "webhooks", "run"]),
        (stack.API, [*refnet, "serve"]),
    ]


@stack_app.command("up")
@friendly
def up_command(
    services: bool = typer.Option(
        True,
        "--services/--no-services",
        help="also start the workers (projection, webhooks) and the API",
    ),
    brokers: int | None = typer.Option(
        None,
        "--brokers",
        help="Kafka nodes: 1, or 3 for a replicated cluster (default: REFNET_KAFKA_BROKERS)",
    ),
) -> None:
    """Start the broker, create the topics, start PostgreSQL, then the workers and the API.

    Safe to run again: whatever already runs is left alone.
    """
    settings = cli_settings()
    if brokers is not None and brokers != settings.kafka_brokers:
        # Rebuilt from the environment, so the bootstraps name every node.
        os.environ["REFNET_KAFKA_BROKERS"] = str(brokers)
        settings = load_settings()
    extra = service_processes(settings) if services else []
    with console.status("Starting the stack…") as spinner:
        steps = _Steps(console, spinner)
        report = run(stack.up(settings, extra, on_step=steps))
        steps.finish()
    kafka = report.kafka
    pid = f" (pid {kafka.pid})" if kafka.pid else ""
    if settings.kafka_brokers == 1:
        console.print(f"[green]✓[/] Kafka broker {kafka.outcome} at {kafka.bootstrap}{pid}")
    else:
        console.print(
            f"[green]✓[/] Kafka cluster of {settings.kafka_brokers} nodes {kafka.outcome} at "
            f"{kafka.bootstrap}; topics have 3 replicas, min.insync.replicas=2"
        )
        console.print(
            f"  [yellow]note:[/] export REFNET_KAFKA_BROKERS={settings.kafka_brokers} for the "
            "other commands (`stack status`, `publish`, ...), so they know every node"
        )
    for topic in report.topics:
        how = "created" if topic.created else "exists"
        console.print(f"[green]✓[/] topic {topic.name}: {topic.partitions} partitions ({how})")
        for problem in topic.problems:
            console.print(f"  [yellow]warning:[/] {topic.name} {escape(problem)}")
    access = report.access
    if access is not None and access.outcome == "granted":
        console.print(
            f"[green]✓[/] SASL/SCRAM listener at {settings.kafka_sasl_bootstrap}; principal "
            f"{access.projections_principal} reads the log (password in {access.password_file})"
        )
    elif access is not None:
        console.print(
            "  [yellow]warning:[/] the broker runs without an authorizer, so no SASL listener "
            "or ACLs; restart it (`refnet stack down`, then `refnet stack up`) to enable them"
        )
    console.print(f"[green]✓[/] PostgreSQL at {stack.safe_address(report.database_url)}")
    for name, (process_pid, started) in report.processes.items():
        console.print(
            f"[green]✓[/] {name} {'started' if started else 'running'} (pid {process_pid})"
        )
    console.print(f"[dim]data and logs in {data_dir(settings)}[/]")


@stack_app.command("down")
@friendly
def down_command(
    timeout: float = typer.Option(60.0, help="seconds to wait for each process before SIGKILL"),
) -> None:
    """Stop what `stack up` started: worker and API, the broker, then PostgreSQL."""
    settings = cli_settings()
    with console.status("Stopping the stack…") as spinner:
        steps = _Steps(console, spinner)
        report = stack.stop(settings, timeout, on_step=steps)
        steps.finish()
    if report.stopped:
        console.print(f"[green]✓[/] stopped: {', '.join(report.stopped)}")
    else:
        console.print("nothing to stop: no part of the stack was started by `stack up`")


@stack_app.command("status")
@friendly
def status_command(
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
) -> None:
    """Show each part up or down, its version and address, and the projection lag."""
    settings = cli_settings()
    if as_json:
        typer.echo(json.dumps(run(stack.status(settings)).as_dict(), indent=2))
        return
    with console.status("Checking the stack…"):
        report = run(stack.status(settings))
    parts = Table(title="RefNet local stack", title_justify="left")
    for column in ("part", "state", "version", "address", "started by"):
        parts.add_column(column)
    for part in report.components:
        state = "[green]up[/]" if part.up else "[red]down[/]"
        owner = "stack" if part.managed else "someone else" if part.up else ""
        owner += f" (pid {part.pid})" if part.pid else ""
        parts.add_row(part.name, state, part.version or "", part.address, owner)
    console.print(parts)
    _print_cluster(report, settings)
    _print_workers(report)
    if not report.lag:
        console.print("[dim]no lag to show: the broker or PostgreSQL is down, or no event topic[/]")
        return
    lag = Table(title=f"Lag of projection {report.projection!r} on {report.topic}")
    for column in ("partition", "high watermark", "next offset", "lag"):
        lag.add_column(column, justify="right")
    for entry in report.lag:
        behind = f"[yellow]{entry.lag}[/]" if entry.lag else "0"
        lag.add_row(str(entry.partition), str(entry.end_offset), str(entry.next_offset), behind)
    lag.add_section()
    lag.add_row("total", "", "", str(report.total_lag))
    console.print(lag)


def _print_cluster(report: stack.StackStatus, settings: Settings) -> None:
    cluster = report.cluster
    if cluster is None:
        extra = [n for n in tracked_names(settings) if n.startswith("kafka-")]
        if extra and any(stack.is_running(n, settings) for n in extra):
            console.print(
                "[yellow]more Kafka nodes run than this shows: export "
                f"REFNET_KAFKA_BROKERS={len(extra) + 1}[/]"
            )
        return
    controller = f"node {cluster.controller}" if cluster.controller else "[red]none known[/]"
    alive = ", ".join(map(str, cluster.brokers)) or "none"
    console.print(
        f"cluster: {len(cluster.brokers)} of {cluster.nodes} brokers alive ({alive}); "
        f"controller {controller}"
    )
    for label, partitions, colour in (
        ("under-replicated", cluster.under_replicated, "yellow"),
        ("offline", cluster.offline, "red"),
    ):
        shown = ", ".join(partitions[:6]) + (" …" if len(partitions) > 6 else "")
        text = f"[{colour}]{len(partitions)}[/]: {shown}" if partitions else "0"
        console.print(f"partitions {label}: {text}")


def _print_workers(report: stack.StackStatus) -> None:
    up, detail = report.projection_verdict
    colour = "green" if up else "red" if up is False else "dim"
    console.print(f"[{colour}]projection: {detail}[/]")
    if not report.workers:
        return
    table = Table(title="Projection workers", title_justify="left")
    for column in ("worker", "state", "host / pid", "partitions", "batches", "refused", "note"):
        table.add_column(column)
    for w in report.workers:
        state = {"ok": "[green]ok[/]", "stuck": "[red]stuck[/]"}.get(w.state, "[dim]gone[/]")
        note = w.last_error or w.last_refusal or ""
        table.add_row(
            w.worker_id,
            state,
            f"{w.host} / {w.pid}",
            ",".join(map(str, w.partitions)),
            f"{w.batches:,}",
            f"{w.refused_batches:,}",
            note[:60],
        )
    console.print(table)


class _Steps:
    """A step callback for the spinner; each step is ticked off when the next begins."""

    def __init__(self, out: Console, spinner: Status) -> None:
        self.out, self.spinner, self.current = out, spinner, ""

    def __call__(self, message: str) -> None:
        self.finish()
        self.current = message
        self.spinner.update(f"{message}…")

    def finish(self) -> None:
        if self.current:
            self.out.print(f"[dim]✓ {self.current}[/]")
        self.current = ""


@stack_app.command(
    "kafka",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@friendly
def kafka_command(
    ctx: typer.Context,
    tool: str = typer.Argument(..., help=f"one of: {', '.join(sorted(TOOLS))}"),
) -> None:
    """Run one of Kafka's own tools against the broker, e.g. `refnet stack kafka
    consumer-groups --describe --group refnet-projections` (`--bootstrap-server` is
    filled in from REFNET_KAFKA_BOOTSTRAP unless given)."""
    try:
        code = run_tool(cli_settings(), tool, list(ctx.args))
    except ValueError as exc:
        fail(str(exc))
    raise typer.Exit(code)
