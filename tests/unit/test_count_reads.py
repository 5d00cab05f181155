"""The pure parts of reading kept counts: a period's split into rows, and where a median lies."""

from __future__ import annotations

import datetime as dt
import statistics

from hypothesis import given
from hypothesis import strategies as st

from refnet.projections.store.count_reads import BERLIN, _middle, _split

UTC = dt.UTC
instants = st.datetimes(
    min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(UTC)
)
# Berlin midnights and month starts, where the split changes its pieces.
edges = st.builds(
    lambda d, m: dt.datetime(2024 + d // 400, m, 1 + d % 28, tzinfo=BERLIN).astimezone(UTC),
    st.integers(0, 1199),
    st.integers(1, 12),
)
bounds = st.one_of(st.none(), instants, edges)


def pieces_holding(at: dt.datetime, from_: dt.datetime | None, to: dt.datetime | None) -> int:
    """How many pieces of the split of [from, to) hold the instant `at`."""
    split = _split(from_, to)
    day = at.astimezone(BERLIN).date()
    month = day.replace(day=1)
    held = sum(lo <= at < hi for lo, hi in split.raw)
    held += sum(lo <= day < hi for lo, hi in split.days)
    if split.months is not None:
        first, last = split.months
        held += (first is None or first <= month) and (last is None or month <= last)
    return held


@given(bounds, bounds, instants)
def test_a_split_holds_each_instant_of_the_period_once_and_no_other(
    from_: dt.datetime | None, to: dt.datetime | None, at: dt.datetime
) -> None:
    inside = (from_ is None or from_ <= at) and (to is None or at < to)
    assert pieces_holding(at, from_, to) == (1 if inside else 0)


@given(bounds, bounds, edges)
def test_a_split_is_exact_at_midnights_and_month_starts(
    from_: dt.datetime | None, to: dt.datetime | None, at: dt.datetime
) -> None:
    for instant in (at, at - dt.timedelta(microseconds=1)):
        inside = (from_ is None or from_ <= instant) and (to is None or instant < to)
        assert pieces_holding(instant, from_, to) == (1 if inside else 0)


def test_a_period_of_two_whole_years_is_read_from_month_rows_alone() -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=BERLIN)
    split = _split(start, dt.datetime(2026, 1, 1, tzinfo=BERLIN))
    assert (split.raw, split.days) == ([], [])
    assert split.months == (dt.date(2024, 1, 1), dt.date(2025, 12, 1))


def test_a_period_at_the_calendars_end_is_counted_from_the_rows() -> None:
    late = dt.datetime(9999, 12, 31, 23, 30, tzinfo=UTC)
    assert _split(late, None).raw == [(late, dt.datetime.max.replace(tzinfo=UTC))]


@given(st.lists(st.floats(min_value=-50, max_value=400, allow_nan=False), min_size=1, max_size=60))
def test_the_middle_found_from_bins_is_the_median_of_the_values(values: list[float]) -> None:
    ordered = sorted(values)
    bins: dict[int, list[float]] = {}
    for value in ordered:
        bins.setdefault(int(value // 1), []).append(value)
    middle = _middle({b: len(v) for b, v in bins.items()})
    assert middle is not None
    got = [v for b, skip, take in middle.fetches for v in bins[b][skip : skip + take]]
    found = got[0] + middle.fraction * (got[-1] - got[0])
    assert abs(found - statistics.median(values)) <= 1e-9 * max(1.0, abs(found))


def test_no_values_have_no_middle() -> None:
    assert _middle({}) is None
    assert _middle({3: 0}) is None
