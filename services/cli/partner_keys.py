"""`refnet partners keys ...`: the Ed25519 keys events are verified against.

A partner that publishes straight to Kafka makes its key pair on its own
machine (`generate` there, or any Ed25519 tool) and hands over only the public
half, which the operator registers with `add`. `retire` ends a key's validity
for events recorded from then on; events recorded before stay valid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from refnet.events.fields import SLUG_RULE, is_slug
from refnet.events.signing import b64url, parse_public_key
from refnet.services.cli.console import console, err_console, fail, friendly
from refnet.services.cli.root import cli_settings, with_connection
from refnet.services.registry.keys import KeyInfo, list_keys, register_key, retire_key
from refnet.services.registry.local_keys import local_keys

keys_app = typer.Typer(
    name="keys",
    help="Register, list and retire the public keys events are verified against.",
    no_args_is_help=True,
)

PartnerId = Annotated[str, typer.Argument(metavar="ID", help="the partner id, e.g. awo-en")]


def _checked(partner_id: str) -> str:
    if not is_slug(partner_id):
        fail(f"partner id {partner_id!r} is not valid: {SLUG_RULE}")
    return partner_id


@keys_app.command("generate")
@friendly
def generate(
    partner_id: PartnerId,
    register: Annotated[
        bool, typer.Option(help="also register the public key in this installation")
    ] = True,
) -> None:
    """Make a key pair in REFNET_KEYS_DIR for a partner that signs here, and register it."""
    settings = cli_settings()
    partner_id = _checked(partner_id)
    keys = local_keys(settings)
    key = keys.create(partner_id)
    console.print(f"private key written to {keys.key_path(partner_id)} (mode 0600)")
    if register:
        with_connection(settings, lambda conn: register_key(conn, key.public_key, partner_id))
        console.print(f"registered key {key.key_id} for {partner_id}")
    typer.echo(b64url(key.public_key))


@keys_app.command("add")
@friendly
def add(
    partner_id: PartnerId,
    public_key: Annotated[
        str, typer.Argument(help="the public key (base64url, 43 characters) or a PEM file")
    ],
    label: Annotated[str | None, typer.Option(help="a note: which system holds it")] = None,
) -> None:
    """Register a partner's public key; its events signed with it are then applied."""
    settings = cli_settings()
    partner_id = _checked(partner_id)
    path = Path(public_key)
    text = path.read_text() if path.is_file() else public_key
    raw = parse_public_key(text)
    key_id = with_connection(settings, lambda conn: register_key(conn, raw, partner_id, label))
    console.print(f"registered key {key_id} for {partner_id}")


@keys_app.command("retire")
@friendly
def retire(
    key_id: Annotated[str, typer.Argument(help="the id shown by `partners keys list`")],
    at: Annotated[
        datetime | None,
        typer.Option(help="retire from this time (UTC if no offset); default now"),
    ] = None,
) -> None:
    """Retire a key: events recorded from then on are no longer accepted with it."""
    settings = cli_settings()
    when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    retired = with_connection(settings, lambda conn: retire_key(conn, key_id, when))
    console.print(f"key {key_id} retired from {retired.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")


def keys_table(keys: list[KeyInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, caption="times in UTC")
    for name in ("key", "owner", "public key", "label", "registered", "retired"):
        # Ids and times stay whole, so they can be copied; the rest folds.
        table.add_column(name, overflow="fold", no_wrap=name in ("key", "registered", "retired"))
    for k in keys:
        table.add_row(
            k.key_id,
            k.partner_id or Text("gateway", style="cyan"),
            k.public_key,
            Text(k.label or ""),
            f"{k.registered_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            Text(
                f"{k.retired_at.astimezone(UTC):%Y-%m-%d %H:%M}" if k.retired_at else "",
                style="yellow",
            ),
        )
    return table


@keys_app.command("list")
@friendly
def list_() -> None:
    """Every registered key, by owner."""
    settings = cli_settings()
    keys = with_connection(settings, list_keys)
    if not keys:
        err_console.print("no keys registered; `refnet partners keys add ID KEY` registers one")
    console.print(keys_table(keys))
