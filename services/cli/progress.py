"""The progress bar of every long pass over the log: events done, events/s, time left."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Events per second while running (rich's recent figure), the average once done."""

    def render(self, task: Task) -> Text:
        # Once done, the whole run's average: the last few seconds' figure says little.
        elapsed = task.elapsed
        speed = task.completed / elapsed if task.finished and elapsed else task.speed
        shown = f"{speed:,.0f} events/s" if speed else "- events/s"
        return Text(shown, style="progress.data.speed")


def event_progress(console: Console, transient: bool = True, disable: bool = False) -> Progress:
    """A progress display whose tasks count events; add tasks with a description."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=disable,
    )
