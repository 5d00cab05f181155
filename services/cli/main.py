"""The `refnet` command: one entry point for operators, coordinators and auditors.

Each command is thin: the root callback builds the settings once (`cli.root`),
and the command calls the same functions the API and the worker use.
"""

from __future__ import annotations

import typer

from refnet.services.cli.audit import audit_app
from refnet.services.cli.demo import demo_command
from refnet.services.cli.import_csv import import_command
from refnet.services.cli.partners import app as partners_app
from refnet.services.cli.privacy import privacy_app
from refnet.services.cli.projections import projections_app
from refnet.services.cli.publish import publish_command
from refnet.services.cli.report import report_app
from refnet.services.cli.root import load_settings
from refnet.services.cli.schemas import schemas_app
from refnet.services.cli.serve import serve
from refnet.services.cli.stack import stack_app
from refnet.services.cli.tokens import tokens_app

app = typer.Typer(
    name="refnet",
    help="RefNet: event-sourced referral coordination for partner networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root() -> None:
    """Build this run's settings before any command: a bad REFNET_* is one line."""
    load_settings()


app.add_typer(stack_app, name="stack", help="Start, stop and inspect the local stack.")
app.add_typer(projections_app, name="projections")
app.add_typer(tokens_app, name="tokens", help="Issue, list and revoke API tokens.")
app.add_typer(partners_app, name="partners")
app.add_typer(schemas_app, name="schemas")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
app.add_typer(privacy_app, name="privacy")
app.command("publish")(publish_command)
app.command("import")(import_command)
app.command("demo")(demo_command)
app.command("serve")(serve)

if __name__ == "__main__":
    app()
