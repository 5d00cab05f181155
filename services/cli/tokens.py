"""`refnet tokens ...`: issue, revoke and list the HTTP API's bearer tokens.

Thin commands over `refnet.services.registry.tokens`; each builds the settings once and
opens one database connection. An expected failure is one red line and exit 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, TypeVar

import asyncpg
import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from refnet.services.cli.console import console, err_console, fail, friendly
from refnet.services.cli.root import cli_settings, with_connection
from refnet.services.registry.tokens import TokenInfo, issue_token, list_tokens, revoke_token

T = TypeVar("T")

tokens_app = typer.Typer(
    name="tokens", help="Issue, revoke and list API tokens.", no_args_is_help=True
)
# Driver failures not already turned into RefNet errors (e.g. the server going away).
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class RoleChoice(StrEnum):
    coordinator = "coordinator"
    auditor = "auditor"
    partner = "partner"


@tokens_app.command("issue")
@friendly
def issue(
    role: Annotated[RoleChoice, typer.Option(help="what the token may read")],
    partner: Annotated[
        str | None, typer.Option(help="the partner id a partner token acts for")
    ] = None,
    label: Annotated[str | None, typer.Option(help="a note: who or what uses it")] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="days until it expires (default: never)")
    ] = None,
) -> None:
    """Issue a token and print it on stdout, once; only its digest is stored."""
    settings = cli_settings()
    expires_in = timedelta(days=expires_in_days) if expires_in_days is not None else None
    issued = with_connection(
        settings, lambda conn: issue_token(conn, role.value, partner, label, expires_in)
    )
    typer.echo(issued.token)
    scope = f" for partner {issued.partner_id}" if issued.partner_id else ""
    expiry = f", expires {issued.expires_at:%Y-%m-%d %H:%M} UTC" if issued.expires_at else ""
    err_console.print(
        Text(
            f"{issued.role} token {issued.token_id}{scope}{expiry}. It is shown only now: "
            f"store it safely. Revoke it with `refnet tokens revoke {issued.token_id}`.",
            style="dim",
        ),
        soft_wrap=True,
    )


@tokens_app.command("revoke")
@friendly
def revoke(token_id: Annotated[str, typer.Argument(help="the id shown by `tokens list`")]) -> None:
    """Revoke a token at once; requests carrying it get 401 from now on."""
    settings = cli_settings()
    if not with_connection(settings, lambda conn: revoke_token(conn, token_id)):
        fail(escape(f"no token with id {token_id!r}"))
    typer.echo(f"revoked {token_id}")


def _day(value: datetime | None) -> str:
    return "" if value is None else f"{value.astimezone(UTC):%Y-%m-%d}"


def tokens_table(tokens: list[TokenInfo], now: datetime) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption="dates in UTC",
    )
    for name in ("id", "role", "partner", "label", "created", "expires", "state"):
        wraps = name in ("partner", "label")
        table.add_column(name, no_wrap=not wraps, min_width=8 if wraps else None, overflow="fold")
    styles = {"active": "green", "expired": "yellow", "revoked": "red"}
    for t in tokens:
        state = t.state(now)
        table.add_row(
            t.token_id,
            t.role,
            t.partner_id or "",
            Text(t.label or ""),
            _day(t.created_at),
            _day(t.expires_at),
            Text(state, style=styles[state]),
        )
    return table


@tokens_app.command("list")
@friendly
def list_(
    active: Annotated[bool, typer.Option("--active", help="only tokens still valid")] = False,
) -> None:
    """List every token (never its secret), oldest first."""
    settings = cli_settings()
    tokens = with_connection(settings, list_tokens)
    now = datetime.now(UTC)
    if active:
        tokens = [t for t in tokens if t.state(now) == "active"]
    console.print(tokens_table(tokens, now))
