"""`refnet partners ...`: a partner's direct access to the Kafka log.

`add` creates the partner's principal on the broker's SASL/SCRAM listener: credentials
and ACLs that let it write to the event log and read nothing (see
`refnet.services.kafka.access`). An expected failure is one red line and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from refnet.events.settings import Settings
from refnet.services.cli.console import console, err_console, fail, friendly
from refnet.services.cli.partner_keys import keys_app
from refnet.services.cli.root import cli_settings
from refnet.services.cli.webhooks import webhooks_app
from refnet.services.kafka.access import (
    AclEntry,
    KafkaAccessError,
    check_partner_id,
    grant_partner,
    list_acls,
    new_password,
    revoke_partner,
    sasl_client_config,
    write_secret,
)
from refnet.services.kafka.manifests import partner_user

app = typer.Typer(
    name="partners",
    help="Partners: direct Kafka access (principals, SCRAM credentials, ACLs) and signing keys.",
    no_args_is_help=True,
)

app.add_typer(keys_app, name="keys")
app.add_typer(webhooks_app, name="webhooks")

PartnerId = Annotated[str, typer.Argument(metavar="ID", help="the partner id, e.g. awo-en")]


@app.command("add")
@friendly
def add(
    partner_id: PartnerId,
    password_file: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False, help="write the password to this file (mode 0600), not to stdout"
        ),
    ] = None,
    replace_password: Annotated[
        bool,
        typer.Option(
            "--replace-password",
            help="give a partner that has credentials a new one (its clients must change)",
        ),
    ] = False,
) -> None:
    """Create the partner's Kafka principal, SCRAM credentials and ACLs; print its settings.

    The settings go to stdout as a Kafka client properties file; the password is shown
    only now (or written to --password-file).
    """
    settings = cli_settings()
    check_partner_id(partner_id)
    if password_file is not None and not password_file.parent.is_dir():
        fail(f"{password_file.parent} is not a directory")
    password = new_password()
    grant_partner(settings, partner_id, password, replace=replace_password)
    if password_file is not None:
        try:
            write_secret(password_file, password)
        except OSError as exc:
            raise KafkaAccessError(
                f"partner {partner_id} was granted access, but its password could not be "
                f"written to {password_file} ({exc.strerror}); run again with "
                "--replace-password to get a new one"
            ) from exc
    typer.echo(client_properties(settings, partner_id, password, password_file))
    shown = f"is in {password_file}" if password_file else "is shown only now"
    err_console.print(
        Text(
            f"Kafka principal User:{partner_id} may write to {settings.topic_events} and read "
            f"nothing. Its password {shown}: store it safely. Revoke it with "
            f"`refnet partners revoke-kafka {partner_id}`.",
            style="dim",
        ),
        soft_wrap=True,
    )


def client_properties(
    settings: Settings, partner_id: str, password: str, password_file: Path | None
) -> str:
    """The partner's connection settings as a Kafka client properties file."""
    config = sasl_client_config(settings, partner_id, password)
    lines = [f"# partner {partner_id}: produce to topic {settings.topic_events}"]
    for key, value in config.items():
        if key == "sasl.password" and password_file is not None:
            lines.append(f"# sasl.password: in {password_file}")
        else:
            lines.append(f"{key}={value}")
    return "\n".join(lines)


@app.command("revoke-kafka")
@friendly
def revoke_kafka(partner_id: PartnerId) -> None:
    """Remove the partner's ACLs and SCRAM credentials: it can no longer write to Kafka."""
    settings = cli_settings()
    revoked = revoke_partner(settings, partner_id)
    if not revoked.acls and not revoked.credential:
        fail(f"partner {partner_id} has no Kafka credentials or ACLs")
    credential = "credential removed" if revoked.credential else "no credential"
    typer.echo(f"revoked Kafka access of {partner_id}: {revoked.acls} ACLs removed, {credential}")


@app.command("kafka-user")
@friendly
def kafka_user(partner_id: PartnerId) -> None:
    """Print the partner's Strimzi KafkaUser (on Kubernetes, instead of `add`).

    The same ACLs as `add` grants; apply it with `kubectl apply -n refnet -f -`. The user
    operator then keeps the SCRAM password in the Secret named after the partner.
    """
    settings = cli_settings()
    check_partner_id(partner_id)
    typer.echo(json.dumps(partner_user(settings, partner_id), indent=2))


@app.command("acls")
@friendly
def acls(
    every: Annotated[
        bool, typer.Option("--all", help="every ACL on the broker, not only the event log's")
    ] = False,
) -> None:
    """List the ACLs on the event log (or all ACLs) and who they allow to do what."""
    settings = cli_settings()
    topic = None if every else settings.topic_events
    entries = list_acls(settings, topic)
    title = "ACLs on the broker" if every else f"ACLs on topic {settings.topic_events}"
    console.print(acl_table(entries, title))


def acl_table(entries: list[AclEntry], title: str) -> Table:
    """One row per ACL; the host column only when some ACL is not for every host."""
    any_host = all(e.host == "*" for e in entries)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption="no ACLs" if not entries else "from any host" if any_host else None,
    )
    columns = ["principal", "resource", "operation", "permission"] + ([] if any_host else ["host"])
    for name in columns:
        # Names wrap only when they must; the short words never do.
        wraps = name in ("principal", "resource")
        table.add_column(name, no_wrap=not wraps, min_width=12 if wraps else None, overflow="fold")
    for e in entries:
        resource = f"{e.resource_type.lower()} {e.resource}"
        if e.pattern != "LITERAL":
            resource += f" ({e.pattern.lower()})"
        style = "green" if e.permission == "ALLOW" else "red"
        cells: list[str | Text] = [e.principal, Text(resource), e.operation]
        cells.append(Text(e.permission, style=style))
        table.add_row(*cells, *([] if any_host else [e.host]))
    return table
