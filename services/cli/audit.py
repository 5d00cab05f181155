"""`refnet audit ...`: what an auditor does with the log alone.

`replay` and `history` read the log with confluent-kafka and fold it in memory;
`verify` proves the log and the read model intact; `export`, `verify-archive`
and `restore` keep the log as files for the years a funder keeps its records.

`history` reads one person's record, so it takes a required `--reason` and is
recorded in the read log under the operating-system user, as every person-level
read must be; it replaces the unrecorded command `audit_replay` registers.
"""

from __future__ import annotations

from typing import Annotated

import typer

from refnet.projections.audit.reads import record_operator_read
from refnet.services.cli import audit_archive, audit_replay, audit_verify
from refnet.services.cli.console import console, fail, friendly, run
from refnet.services.cli.privacy import operator, read_reason
from refnet.services.cli.root import cli_settings, migrated_connection
from refnet.services.registry.audit_keys import audit_keys

HISTORY_WHAT = "cli audit history"
"""What a `refnet audit history` is recorded as in the read log."""

audit_app = typer.Typer(
    help="Replay history, prove it intact, and archive the log.", no_args_is_help=True
)
audit_replay.register(audit_app)
audit_verify.register(audit_app)
audit_archive.register(audit_app)


@friendly
def history_command(
    participant_id: Annotated[str, typer.Argument(help="the participant's network pseudonym")],
    reason: Annotated[
        str, typer.Option("--reason", help="why the record is read; recorded with the read")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    keys_file: audit_replay.KeysFile = None,
) -> None:
    """Every event about one participant across all partners, in order, from the log.

    The read is recorded (operating-system user, when, the reason given).
    """
    settings = cli_settings()
    why = read_reason(reason)
    keys = run(audit_keys(settings, keys_file))
    found = audit_replay.participant_timeline(settings, keys, participant_id)
    if found is None:
        fail(f"participant_id: no event about {participant_id!r} in {settings.topic_events}")

    async def record() -> None:
        async with migrated_connection(settings) as conn:
            await record_operator_read(conn, operator(), participant_id, HISTORY_WHAT, why)

    run(record())  # before anything is shown: an unrecorded read is never printed
    if as_json:
        console.print_json(found.model_dump_json())
        return
    console.print(audit_replay._timeline_table(found))


audit_app.registered_commands = [c for c in audit_app.registered_commands if c.name != "history"]
audit_app.command("history")(history_command)
