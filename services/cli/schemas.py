"""`refnet schemas export`: write the JSON Schema of every event type, and the AsyncAPI
document of the Kafka log made from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from refnet.events.schema_export import write_schemas
from refnet.services.cli.console import console, friendly
from refnet.services.kafka.asyncapi import ASYNCAPI_FILE, write_asyncapi

schemas_app = typer.Typer(help="JSON Schemas of the event catalogue.", no_args_is_help=True)
_PACKAGE_SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "schemas"


@schemas_app.command("export")
@friendly
def export_command(
    directory: Annotated[
        Path, typer.Argument(help="where to write the .json files")
    ] = _PACKAGE_SCHEMAS,
    asyncapi: Annotated[
        Path,
        typer.Option(
            "--asyncapi",
            dir_okay=False,
            help="where to write the AsyncAPI 3.0 document of the event and dead-letter "
            "topics (for the default settings, as committed)",
        ),
    ] = ASYNCAPI_FILE,
) -> None:
    """Write one JSON Schema per event type (and one for the union) into DIRECTORY, and
    the AsyncAPI document of the Kafka log to --asyncapi."""
    written = write_schemas(directory)
    console.print(f"wrote {len(written)} schemas to {directory}")
    console.print(f"wrote the AsyncAPI document to {write_asyncapi(asyncapi)}")
