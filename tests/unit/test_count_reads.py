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
    row_day = {"day": day, "month": day.replace(day=1), "year": day.replace(month=1, day=1)}
    held = sum(lo <= at < hi for lo, hi in split.raw) + split.whole
    for span, first, end in split.rows:
        held += (first is None or first <= row_day[span]) and (end is None or row_day[span] < end)
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


def test_whole_years_are_read_from_year_rows_and_no_bounds_from_all_time() -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=BERLIN)
    split = _split(start, dt.datetime(2026, 1, 1, tzinfo=BERLIN))
    assert (split.raw, split.rows) == ([], [("year", dt.date(2024, 1, 1), dt.date(2026, 1, 1))])
    assert _split(None, None).whole


def test_a_period_cut_mid_day_reads_days_months_and_a_year_between_its_raw_edges() -> None:
    start = dt.datetime(2024, 11, 20, 10, tzinfo=dt.UTC)
    split = _split(start, dt.datetime(2026, 2, 3, 12, tzinfo=dt.UTC))
    assert split.raw == [
        (start, dt.datetime(2024, 11, 21, tzinfo=BERLIN)),
        (dt.datetime(2026, 2, 3, tzinfo=BERLIN), dt.datetime(2026, 2, 3, 12, tzinfo=dt.UTC)),
    ]
    day = dt.date
    assert sorted(split.rows) == [
        ("day", day(2024, 11, 21), day(2024, 12, 1)),
        ("day", day(2026, 2, 1), day(2026, 2, 3)),
        ("month", day(2024, 12, 1), day(2025, 1, 1)),
        ("month", day(2026, 1, 1), day(2026, 2, 1)),
        ("year", day(2025, 1, 1), day(2026, 1, 1)),
    ]


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


calendar = st.one_of(
    st.none(),
    st.datetimes(
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31, 23, 59),
        timezones=st.just(UTC),
    ),
)


@given(calendar, calendar)
def test_any_period_of_the_calendar_splits_into_bounds_postgresql_accepts(
    from_: dt.datetime | None, to: dt.datetime | None
) -> None:
    split = _split(from_, to)
    for lo, hi in split.raw:  # in UTC, inside the calendar: asyncpg can send them
        assert lo.utcoffset() == hi.utcoffset() == dt.timedelta(0)
        assert lo.astimezone(UTC) <= hi.astimezone(UTC)
