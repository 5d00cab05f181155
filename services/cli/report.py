"""`refnet report`: documents for the funder, made from the read model."""

from __future__ import annotations

import typer

report_app = typer.Typer(no_args_is_help=True, help="Reports for the funder (ESF+).")
