"""`refnet audit ...`: what an auditor does with the log alone.

`replay` and `history` read the log with confluent-kafka and fold it in memory;
`verify` proves the log and the read model intact; `export`, `verify-archive`
and `restore` keep the log as files for the years a funder keeps its records.
"""

from __future__ import annotations

import typer

from refnet.services.cli import audit_archive, audit_replay, audit_verify

audit_app = typer.Typer(
    help="Replay history, prove it intact, and archive the log.", no_args_is_help=True
)
audit_replay.register(audit_app)
audit_verify.register(audit_app)
audit_archive.register(audit_app)
