"""`refnet partners webhooks ...`: partners' endpoints, their delivery log, and the worker.

Thin commands over `refnet.services.webhooks`. `add` prints the endpoint's signing
secret once; the receiver verifies each notice with it (Standard Webhooks).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from refnet.events.logs import configure_logging
from refnet.services.cli.console import console, err_console, friendly
from refnet.services.cli.root import cli_settings, with_connection
from refnet.services.webhooks.endpoints import (
    add_endpoint,
    delivery_log,
    enable_endpoint,
    list_endpoints,
    remove_endpoint,
)
from refnet.services.webhooks.metrics import WebhookMetrics
from refnet.services.webhooks.worker import run_webhooks

webhooks_app = typer.Typer(
    help="Partners' webhook endpoints: notices of referrals and rejections, signed.",
    no_args_is_help=True,
)
EndpointId = Annotated[str, typer.Argument(metavar="ENDPOINT", help="the endpoint id (wh-...)")]


@webhooks_app.command("add")
@friendly
def add(
    partner_id: Annotated[str, typer.Argument(metavar="ID", help="the partner id, e.g. awo-en")],
    url: Annotated[str, typer.Argument(help="where notices are posted (https://...)")],
) -> None:
    """Register an endpoint; print its id and signing secret (shown only now)."""
    endpoint = with_connection(cli_settings(), lambda conn: add_endpoint(conn, partner_id, url))
    typer.echo(f"{endpoint.endpoint_id} {endpoint.secret}")
    err_console.print(
        f"[dim]notices for {partner_id} go to {url}, signed with the secret above (store it: "
        "it is shown only now); notices start with the next records the worker reads[/]"
    )


@webhooks_app.command("list")
@friendly
def list_command(
    partner: Annotated[str | None, typer.Option(help="only this partner's endpoints")] = None,
) -> None:
    """The endpoints, and which are failing or disabled."""
    endpoints = with_connection(cli_settings(), lambda conn: list_endpoints(conn, partner))
    table = Table("endpoint", "partner", "url", "state", box=box.SIMPLE)
    for e in endpoints:
        state = (
            f"[red]disabled {e.disabled_at:%Y-%m-%d %H:%M}[/]" if e.disabled_at
            else f"[yellow]failing since {e.failing_since:%Y-%m-%d %H:%M}[/]" if e.failing_since
            else "[green]ok[/]"
        )  # fmt: skip
        table.add_row(e.endpoint_id, e.partner_id, e.url, state)
    console.print(table)


@webhooks_app.command("remove")
@friendly
def remove(endpoint_id: EndpointId) -> None:
    """Remove an endpoint and the notices still owed to it."""
    with_connection(cli_settings(), lambda conn: remove_endpoint(conn, endpoint_id))
    typer.echo(f"removed {endpoint_id}")


@webhooks_app.command("enable")
@friendly
def enable(endpoint_id: EndpointId) -> None:
    """Turn a disabled endpoint on again; what it is owed is sent now."""
    with_connection(cli_settings(), lambda conn: enable_endpoint(conn, endpoint_id))
    typer.echo(f"enabled {endpoint_id}")


@webhooks_app.command("log")
@friendly
def log_command(
    endpoint_id: EndpointId,
    limit: Annotated[int, typer.Option(min=1, help="how many notices, newest first")] = 50,
) -> None:
    """The endpoint's delivery log: each notice, its attempts and the last answer."""
    entries = with_connection(cli_settings(), lambda conn: delivery_log(conn, endpoint_id, limit))
    table = Table("notice", "type", "state", "attempts", "last answer", "created", box=box.SIMPLE)
    for d in entries:
        answer = d.last_error or (f"HTTP {d.last_status}" if d.last_status else "")
        state = "[green]delivered[/]" if d.state == "delivered" else "[yellow]pending[/]"
        table.add_row(
            d.webhook_id, d.notice_type, state, str(d.attempts), answer,
            f"{d.created_at:%Y-%m-%d %H:%M:%S}",
        )  # fmt: skip
    console.print(table)


@webhooks_app.command("run")
@friendly
def run_command(
    loglevel: Annotated[str, typer.Option(help="log level")] = "info",
) -> None:
    """Run the delivery worker (its own consumer group) until interrupted."""
    settings = cli_settings()
    configure_logging(loglevel, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        metrics = WebhookMetrics()
        metrics.serve(settings.webhook_metrics_port, settings.worker_metrics_host)
        await run_webhooks(settings, stop, metrics)

    asyncio.run(main())
