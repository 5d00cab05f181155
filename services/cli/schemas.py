"""`refnet schemas export`: write the JSON Schema of every event type."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from refnet.events.schema_export import write_schemas
from refnet.services.cli.console import console, friendly

schemas_app = typer.Typer(help="JSON Schemas of the event catalogue.", no_args_is_help=True)
_PACKAGE_SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "schemas"


@schemas_app.command("export")
@friendly
def export_command(
    directory: Annotated[
        Path, typer.Argument(help="where to write the .json files")
    ] = _PACKAGE_SCHEMAS,
) -> None:
    """Write one JSON Schema per event type (and one for the union) into DIRECTORY."""
    written = write_schemas(directory)
    console.print(f"wrote {len(written)} schemas to {directory}")
