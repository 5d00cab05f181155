"""Reading the kept counts (`read_counts`, see counts.py) for a period.

A period [from, to) is split at Berlin midnights, month and year starts: whole
years are summed from year rows, whole months from month rows, whole days from
day rows, and the partial days at the ends are counted from the rows themselves
(an index range of one day); a period open at both ends reads the rows of all
time. So a count over two years sums a few rows per key, and it is the exact
count the rows give. A median is found in two steps: the kept bins
of one day say which bin holds the middle, then the few values of that bin are
read in order. Everything a view reads comes from one snapshot (`snapshot`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from refnet.projections.store.counts import (
    ANSWER_BIN,
    ANSWER_SECONDS,
    BY_NAME,
    FLOW_ANSWER_BIN,
    PLACEMENT_BIN,
    PLACEMENT_SECONDS,
    TIMEZONE,
    bin_of,
    window_sql,
)
from refnet.projections.store.database import Conn
from refnet.projections.store.schema import COUNTS

BERLIN: Final = ZoneInfo(TIMEZONE)
Key = tuple[str, str, str, int]
"""(measure, a, b, bin) of a kept count."""
EARLIEST, LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
"""The first and last instants PostgreSQL is given: open bounds of a window counted from rows."""


@dataclass
class Window:
    """An instant window [from, to) to sum measures over; None is open."""

    from_: datetime | None
    to: datetime | None
    measures: tuple[str, ...]


@dataclass
class _Split:
    rows: list[tuple[str, date | None, date | None]] = field(default_factory=list)
    """(span, first, end): the kept rows of `span` whose day is in [first, end); None is open."""
    raw: list[tuple[datetime, datetime]] = field(default_factory=list)  # counted from rows
    whole: bool = False  # no bound at all: the rows of span 'all'


class _Params:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


@asynccontextmanager
async def snapshot(conn: Conn) -> AsyncIterator[None]:
    """One consistent view of the counts and the rows for everything read inside."""
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield


async def window_sums(conn: Conn, windows: Sequence[Window]) -> list[dict[Key, int]]:
    """For each window, every kept (measure, a, b, bin) summed over it."""
    params = _Params()
    parts: list[str] = []
    for label, window in enumerate(windows):
        split = _split(window.from_, window.to)
        parts.append(_bucket_sql(label, window, split, params))
        for lo, hi in split.raw:
            first = len(params.values) + 1
            params.add(lo)
            params.add(hi)
            for name in window.measures:
                if BY_NAME[name].clocks:
                    parts.append(
                        f"SELECT {label} AS w, * FROM ({window_sql(BY_NAME[name], first)}) AS r"
                    )
    sums: list[dict[Key, int]] = [defaultdict(int) for _ in windows]
    for r in await conn.fetch(" UNION ALL ".join(parts), *params.values):
        sums[r["w"]][(r["measure"], r["a"], r["b"], r["bin"])] += r["n"]
    return sums


def total(sums: Mapping[Key, int], measure: str, **match: Any) -> int:
    """The sum of one measure's kept counts whose a, b or bin equal `match`."""
    return sum(n for key, n in sums.items() if key[0] == measure and _matches(key, match))


def grouped(sums: Mapping[Key, int], measure: str, by: str) -> dict[Any, int]:
    """One measure's counts summed per value of a, b or bin."""
    index = {"a": 1, "b": 2, "bin": 3}[by]
    out: dict[Any, int] = defaultdict(int)
    for key, n in sums.items():
        if key[0] == measure:
            out[key[index]] += n
    return out


def _matches(key: Key, match: Mapping[str, Any]) -> bool:
    fields = {"a": key[1], "b": key[2], "bin": key[3]}
    return all(fields[k] == v for k, v in match.items())


# ------------------------------------------------------------------ split


def day_start(day: date) -> datetime:
    """Berlin's midnight of `day` in UTC; OverflowError before the calendar's first instant."""
    return datetime.combine(day, time(0), BERLIN).astimezone(UTC)


def _split(from_: datetime | None, to: datetime | None) -> _Split:
    """The month rows, day rows and raw instant ranges that make up [from, to) exactly."""
    try:
        return _split_days(from_, to)
    except (OverflowError, ValueError):  # an instant at the calendar's end: count the rows
        return _Split(raw=[(from_ or EARLIEST, to or LATEST)])


def _split_days(from_: datetime | None, to: datetime | None) -> _Split:
    if from_ is None and to is None:
        return _Split(whole=True)
    split = _Split()
    first = last = None  # the whole days [first, last)
    if from_ is not None:
        first = from_.astimezone(BERLIN).date()
        if day_start(first) != from_:
            first += timedelta(days=1)
    if to is not None:
        last = to.astimezone(BERLIN).date()
    if first is not None and last is not None and first >= last:
        if from_ is not None and to is not None and from_ < to:
            split.raw.append((from_, to))
        return split
    if from_ is not None and first is not None and from_ < day_start(first):
        split.raw.append((from_, day_start(first)))
    if to is not None and last is not None and day_start(last) < to:
        split.raw.append((day_start(last), to))
    split.rows = _cover(first, last)
    return split


def _cover(first: date | None, last: date | None) -> list[tuple[str, date | None, date | None]]:
    """The days [first, last) as day rows at the ends, month rows inside, year rows inside those."""
    months_from = first if first is None or first.day == 1 else _next_month(first)
    months_to = None if last is None else last.replace(day=1)
    if months_from is not None and months_to is not None and months_from >= months_to:
        return [("day", first, last)]
    rows: list[tuple[str, date | None, date | None]] = []
    if first is not None and months_from is not None and first < months_from:
        rows.append(("day", first, months_from))
    if last is not None and months_to is not None and months_to < last:
        rows.append(("day", months_to, last))
    years_from = (
        months_from
        if months_from is None or months_from.month == 1
        else date(months_from.year + 1, 1, 1)
    )
    years_to = None if months_to is None else months_to.replace(month=1)
    if years_from is not None and years_to is not None and years_from >= years_to:
        return [*rows, ("month", months_from, months_to)]
    rows.append(("year", years_from, years_to))
    if months_from is not None and years_from is not None and months_from < years_from:
        rows.append(("month", months_from, years_from))
    if months_to is not None and years_to is not None and years_to < months_to:
        rows.append(("month", years_to, months_to))
    return rows


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _previous_month(day: date) -> date:
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


def _bucket_sql(label: int, window: Window, split: _Split, params: _Params) -> str:
    spans: list[str] = []
    for span, lo, hi in split.rows:
        bounds = f" AND day >= {params.add(lo)}" if lo else ""
        bounds += f" AND day < {params.add(hi)}" if hi else ""
        spans.append(f"(span = '{span}'{bounds})")
    if split.whole:
        spans.append("span = 'all'")
    elif listing := [m for m in window.measures if not BY_NAME[m].clocks]:
        spans.append(f"(span = 'all' AND measure = ANY({params.add(listing)}::text[]))")
    where = " OR ".join(spans) or "false"
    return (
        f"SELECT {label} AS w, measure, a, b, bin, sum(n)::bigint AS n FROM {COUNTS} "
        f"WHERE measure = ANY({params.add(list(window.measures))}::text[]) AND ({where}) "
        "GROUP BY measure, a, b, bin"
    )


# ------------------------------------------------------------------ medians

# One lookup per (bin, offset, limit): the values of a bin in order, from the index.
_LOOKUP = """
SELECT q.i, v.value FROM unnest({arrays}) WITH ORDINALITY AS q({columns})
CROSS JOIN LATERAL (
  SELECT ({seconds} / 86400)::float8 AS value FROM {source}
  WHERE {where} AND {bin} = q.bin{bounds}
  ORDER BY value OFFSET q.skip LIMIT q.take
) AS v ORDER BY q.i, v.value
"""
_PLACED = "p.enrolled AND p.placed_at IS NOT NULL AND p.first_enrolled_at IS NOT NULL"
_ANSWERED = "r.state <> 'withdrawn' AND r.answered_at IS NOT NULL"
# What a median reads: (rows, their filter, the duration, its bin width, the period's clock).
_MEDIANS: Final = {
    "placement": ("participants p", _PLACED, PLACEMENT_SECONDS, PLACEMENT_BIN, "p.placed_at"),
    "answer": ("referrals r", _ANSWERED, ANSWER_SECONDS, ANSWER_BIN, "r.sent_at"),
    "flow": ("referrals r", _ANSWERED, ANSWER_SECONDS, FLOW_ANSWER_BIN, "r.sent_at"),
}
_CELL = ("from_partner", "to_partner")


@dataclass(frozen=True)
class _Middle:
    fetches: list[tuple[int, int, int]]  # (bin, values to skip, values to take)
    fraction: float  # how far between the two middle values the median lies


def _middle(bins: Mapping[int, int]) -> _Middle | None:
    """Where percentile_cont(0.5) reads its two values, from the counts per bin."""
    count = sum(bins.values())
    if count <= 0:
        return None
    position = 0.5 * (count - 1)
    low, high = int(position), int(position) + (position % 1 > 0)
    places: list[tuple[int, int]] = []
    for rank in (low, high):
        seen = 0
        for value_bin in sorted(bins):
            if rank < seen + bins[value_bin]:
                places.append((value_bin, rank - seen))
                break
            seen += bins[value_bin]
    (bin_lo, at_lo), (bin_hi, at_hi) = places
    if bin_lo == bin_hi:
        fetches = [(bin_lo, at_lo, at_hi - at_lo + 1)]
    else:
        fetches = [(bin_lo, at_lo, 1), (bin_hi, at_hi, 1)]
    return _Middle(fetches, position - low)


async def medians(
    conn: Conn,
    what: str,
    from_: datetime | None,
    to: datetime | None,
    bins: Mapping[tuple[str, ...], Mapping[int, int]],
) -> dict[tuple[str, ...], float | None]:
    """percentile_cont(0.5) of days per group: `what` is a key of _MEDIANS.

    `bins` holds each group's kept counts per bin over the period; a group is ()
    for the whole network ('placement', 'answer'), or (from, to) for a 'flow'.
    """
    source, where, seconds, bin_width, clock = _MEDIANS[what]
    middles = {group: _middle(b) for group, b in bins.items()}
    rows: list[tuple[tuple[str, ...], int, int, int]] = [
        (group, *fetch)
        for group, middle in middles.items()
        if middle is not None
        for fetch in middle.fetches
    ]
    if not rows:
        return dict.fromkeys(bins)
    params = _Params()
    names = ["f", "t"][: len(rows[0][0])]
    arrays = [params.add([r[0][n] for r in rows]) + "::text[]" for n in range(len(names))]
    arrays += [params.add([r[k] for r in rows]) + "::integer[]" for k in (1, 2, 3)]
    bounds = (f" AND {clock} >= {params.add(from_)}" if from_ else "") + (
        f" AND {clock} < {params.add(to)}" if to else ""
    )
    cell = "".join(f" AND r.{col} = q.{n}" for col, n in zip(_CELL, names, strict=False))
    sql = _LOOKUP.format(
        arrays=", ".join(arrays),
        columns=", ".join([*names, "bin", "skip", "take", "i"]),
        seconds=seconds,
        bin=bin_of(seconds, bin_width),
        source=source,
        where=where + cell,
        bounds=bounds,
    )
    values: dict[int, list[float]] = defaultdict(list)
    for r in await conn.fetch(sql, *params.values):
        values[r["i"] - 1].append(r["value"])
    out: dict[tuple[str, ...], float | None] = {}
    index = 0
    for group, middle in middles.items():
        if middle is None:
            out[group] = None
            continue
        got = _take(values, index, len(middle.fetches))
        index += len(middle.fetches)
        low, high = got[0], got[-1]
        out[group] = low + middle.fraction * (high - low)
    return out


async def median(
    conn: Conn, what: str, from_: datetime | None, to: datetime | None, bins: Mapping[int, int]
) -> float | None:
    """percentile_cont(0.5) over the whole network: `medians` with one group."""
    whole: tuple[str, ...] = ()
    return (await medians(conn, what, from_, to, {whole: bins}))[whole]


def _take(values: Mapping[int, list[float]], start: int, count: int) -> list[float]:
    got: list[float] = []
    for n in range(start, start + count):
        got.extend(values.get(n, []))
    if not got:
        raise LookupError("the kept counts name values the rows do not hold: recount them")
    return got


def listed(sums: Mapping[Key, int], measure: str) -> Iterable[str]:
    """The names (a) a span-'all' measure lists, sorted."""
    return sorted(a for a, n in grouped(sums, measure, "a").items() if n > 0)
