"""What every file of the ESF+ report shows, independent of the format: tables and stamp.

Each format lays out the same `Table`s and the same `Stamp`, so a CSV, an XLSX and a
PDF of one report cannot disagree on a figure, a label or the command that reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from refnet.projections.reports.esf import EsfReport, GenderSplit
from refnet.services.i18n.translations import BERLIN, date, instant
from refnet.services.reports.labels import FIGURE_KEYS, SECTIONS, label, term


@dataclass(frozen=True)
class Line:
    """One indicator: where it belongs, its code (or ""), its key, label and figures.

    `figures` follows FIGURE_KEYS for a gender-split box; a plain count (a refusal)
    has only its total, the gender columns are None.
    """

    section: str
    code: str
    key: str
    label: str
    figures: tuple[int | None, ...]


@dataclass(frozen=True)
class Table:
    section: str
    title: str
    split: bool
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Stamp:
    """When and from where in the log the report was made, and how to reproduce it."""

    made_at: datetime
    made_at_text: str
    period_text: str
    start: str
    end: str
    topic: str
    offsets: tuple[tuple[int, int], ...]
    position_text: str
    command: str


def _figures(box: GenderSplit | int) -> tuple[int | None, ...]:
    if isinstance(box, int):
        return (box, *(None for _ in FIGURE_KEYS[1:]))
    return tuple(getattr(box, key) for key in FIGURE_KEYS)


def tables(report: EsfReport, lang: str) -> list[Table]:
    """The report's sections in order, labelled in `lang`."""
    found: list[Table] = []
    for section in SECTIONS:
        boxes = getattr(report, section.key)
        lines = tuple(
            Line(
                section.key,
                section.code(key),
                key,
                label(section.messages[key], lang),
                _figures(getattr(boxes, key)),
            )
            for key in section.keys
        )
        found.append(Table(section.key, label(section.title, lang), section.split, lines))
    return found


def bound(value: datetime | None) -> str:
    """A period bound as the command line takes it: a date for a UTC midnight, else ISO."""
    if value is None:
        return ""
    value = value.astimezone(UTC)
    return value.date().isoformat() if value.time() == time(0) else value.isoformat()


def replay_command(report: EsfReport) -> str:
    """The `refnet audit replay` call that reproduces every figure of `report` from the log."""
    period = report.period
    words = ["refnet audit replay", f"--as-of {period.as_of.astimezone(UTC).isoformat()}", "--esf"]
    if period.from_ is not None:
        words.append(f"--from {bound(period.from_)}")
    if period.to is not None:
        words.append(f"--to {bound(period.to)}")
    return " ".join(words)


def _when(value: datetime, lang: str) -> str:
    # Bounds are usually midnights (UTC from the API, German time from the dashboard):
    # a date reads better than "01.01.2025, 00:00 (UTC+1)".
    midnight = time(0) in (value.astimezone(UTC).time(), value.astimezone(BERLIN).time())
    return date(value, lang) if midnight else instant(value, lang)


def period_text(report: EsfReport, lang: str) -> str:
    """The period in words: `01.01.2025 bis 01.01.2026 (Enddatum ausgenommen)`."""
    period = report.period
    start = _when(period.from_, lang) if period.from_ else None
    end = _when(period.to, lang) if period.to else None
    if start is None:
        return term("period_before", lang).format(end=end) if end else term("period_all", lang)
    if end is None:
        return term("period_since", lang).format(start=start)
    return term("period_range", lang).format(start=start, end=end)


def stamp(report: EsfReport, lang: str) -> Stamp:
    """The report's stamp: made at, log position and the command that reproduces it."""
    period = report.period
    offsets = tuple(sorted(period.log_position.next_offsets.items()))
    position = ", ".join(f"{partition}:{offset}" for partition, offset in offsets)
    return Stamp(
        made_at=period.as_of.astimezone(UTC),
        made_at_text=instant(period.as_of, lang),
        period_text=period_text(report, lang),
        start=period.from_.astimezone(UTC).isoformat() if period.from_ else "",
        end=period.to.astimezone(UTC).isoformat() if period.to else "",
        topic=period.log_position.topic,
        offsets=offsets,
        position_text=f"{period.log_position.topic} {position}".strip(),
        command=replay_command(report),
    )


def file_name(report: EsfReport, extension: str) -> str:
    """A file name for the report: `esf-2025-01-01-2026-01-01.xlsx` (`open` for no bound)."""
    period = report.period
    start = period.from_.astimezone(UTC).date().isoformat() if period.from_ else "open"
    end = period.to.astimezone(UTC).date().isoformat() if period.to else "open"
    return f"esf-{start}-{end}.{extension}"
