"""`refnet projections ...`: run the worker, reset or rebuild the read model, wait for catch-up."""

from __future__ import annotations

import typer

from refnet.events.errors import LogUnavailable
from refnet.events.logs import configure_logging
from refnet.events.settings import Settings
from refnet.projections.audit.rebuild import Rebuild, RebuildReport
from refnet.projections.store.reset import reset_read_model
from refnet.projections.worker.catchup import wait_caught_up
from refnet.projections.worker.lag import group_members
from refnet.projections.worker.presence import present_workers
from refnet.services.cli.console import console, fail, friendly, run
from refnet.services.cli.progress import event_progress
from refnet.services.cli.root import cli_settings, migrated_connection

projections_app = typer.Typer(help="Run and manage the projection worker.", no_args_is_help=True)


@projections_app.command("run")
@friendly
def run_command(
    loglevel: str = typer.Option("info", help="faust/worker log level"),
    workers: int = typer.Option(
        1, min=1, max=64, help="worker processes in the group, each restarted when it ends"
    ),
    supervise: bool = typer.Option(
        False, "--supervise", help="restart the worker whenever it ends (so with --workers N>1)"
    ),
) -> None:
    """Run the projection worker (joins the consumer group; stop with Ctrl-C).

    With --workers N, N processes share the partitions; each serves its metrics on
    REFNET_WORKER_METRICS_PORT + its index. `refnet stack up` runs one, supervised.
    """
    settings = cli_settings()
    configure_logging(loglevel, settings.log_format)
    if workers > 1 or supervise:
        from refnet.services.cli.worker_pool import run_pool

        raise typer.Exit(run_pool(settings, workers, loglevel))
    from refnet.projections.worker.app import run_worker

    run_worker(settings, loglevel=loglevel)


@projections_app.command("reset")
@friendly
def reset_command(
    yes: bool = typer.Option(False, "--yes", help="confirm: empties the read model"),
    force: bool = typer.Option(
        False, "--force", help="reset even while workers of the group are running"
    ),
) -> None:
    """Empty the read model and its offsets, so a worker rebuilds it from offset 0.

    Refused while workers of the consumer group are running (stop them first,
    or use `projections rebuild`, which needs no downtime). With --force the
    running workers heal it themselves: their next batch no longer continues
    the stored offsets, so they seek back to 0 and fold the log again. The API
    shows empty counts until they have caught up.
    """
    settings = cli_settings()
    if not force:
        try:
            members = group_members(settings)
        except LogUnavailable as exc:
            fail(f"cannot tell whether workers are running ({exc}); "
                 "stop them and try again with --force")  # fmt: skip
        if not members:  # a worker folding a backlog in bulk has not joined the group yet
            members = [f"a worker (PostgreSQL backend {pid})" for pid in run(_present(settings))]
        if members:
            fail(
                f"{len(members)} worker(s) of group {settings.consumer_group} are running "
                f"({', '.join(members)}): stop them first, or use --force"
            )
    if not yes:
        typer.confirm("Empty the read model and rebuild it from the log?", abort=True)
    run(_reset(settings))
    if force:
        console.print("read model emptied; running workers start again from offset 0")
    else:
        console.print("read model emptied; start `refnet projections run` to rebuild it")


async def _present(settings: Settings) -> list[int]:
    async with migrated_connection(settings) as conn:
        return await present_workers(conn, settings)


async def _reset(settings: Settings) -> None:
    async with migrated_connection(settings) as conn:
        await reset_read_model(conn)


@projections_app.command("wait")
@friendly
def wait_command(timeout: float = typer.Option(300.0, help="seconds to wait at most")) -> None:
    """Wait until the read model has applied every event in the log."""
    run(wait_until_caught_up(cli_settings(), timeout))
    console.print("[green]caught up[/]")


async def wait_until_caught_up(settings: Settings, timeout: float) -> None:
    """Wait with a progress bar; shared by `refnet demo`."""
    with event_progress(console) as progress:
        task = progress.add_task("projecting", total=None)

        def show(done: int, end: int) -> None:
            progress.update(task, completed=done, total=end)

        async with migrated_connection(settings) as conn:
            await wait_caught_up(conn, settings, timeout=timeout, on_progress=show)


@projections_app.command("rebuild")
@friendly
def rebuild_command(
    yes: bool = typer.Option(False, "--yes", help="confirm: replaces the read model"),
) -> None:
    """Build a fresh read model from offset 0 beside the live one, then switch to it.

    Workers and the API keep running: the API answers from the old model until
    the switch, which is one transaction, and the worker carries on in the new one.
    """
    settings = cli_settings()
    if not yes:
        typer.confirm(
            f"Rebuild read model {settings.read_model_schema} from the log and replace it?",
            abort=True,
        )
    with event_progress(console) as progress:
        task = progress.add_task("folding the log", total=None)

        def show(count: int, total: int) -> None:
            progress.update(task, advance=count, total=total)

        rebuild = Rebuild(settings, note=console.print, on_progress=show)
        try:
            report = run(rebuild.run())
        except KeyboardInterrupt:
            fail(_interrupted(rebuild.report), code=130)
    _print_report(report)


_DOING = {
    "prepare": "preparing",
    "fold": "folding the log",
    "write": "writing the new model",
    "catch_up": "catching up",
}


def _interrupted(report: RebuildReport) -> str:
    """What an interruption left, by how far the rebuild had got."""
    left = f"the next rebuild drops what is left ({report.schema}_next, {report.schema}_retired)"
    if report.switched:
        return f"interrupted after the switch: {report.schema} is the rebuilt model; {left}"
    if report.phase in _DOING:
        return f"interrupted while {_DOING[report.phase]}: the live model is untouched; {left}"
    # Cut off while committing: the switch is one transaction, so it happened whole or not at all.
    return f"interrupted during the switch: either model is live, whole; {left}"


def _print_report(report: RebuildReport) -> None:
    phases = ", ".join(f"{name.replace('_', ' ')} {s:.1f} s" for name, s in report.phases.items())
    rate = report.events / report.seconds if report.seconds else 0.0
    console.print(
        f"[green]rebuilt {report.schema}[/]: {report.events:,} events, "
        f"{report.participants:,} participants, {report.rejections:,} rejections, "
        f"{report.dead_letters:,} dead letters; {report.caught_up:,} events caught up; "
        f"{rate:,.0f} events/s overall"
    )
    console.print(f"phases: {phases}; live offsets locked {report.locked_seconds * 1000:.0f} ms")
