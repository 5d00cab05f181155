"""The counts the projection keeps equal a count over the rows, for any period.

The demo network's history goes through the real worker (many batches, with
retractions, second enrolments and answers arriving after their referrals);
then every coordinator view, read from the kept counts, must equal the plain
SQL count over the rows (`row_counts.py`) for periods cut anywhere: at Berlin
midnights, at month starts, mid-day, open at either end, inside one day.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Awaitable

import pytest

from refnet.events.fields import format_utc
from refnet.projections.fold.derive import derive
from refnet.projections.fold.rows import (
    ParticipantRow,
    ParticipantRows,
    PartnerLinkRow,
    ReferralRow,
    TrainingRow,
)
from refnet.projections.fold.rules import ParticipantState
from refnet.projections.store import network_views, queries
from refnet.projections.store.contributions import contributions
from refnet.projections.store.counts import contributions_of, count_drift, recount_all
from refnet.projections.store.database import Conn
from refnet.projections.store.row_writes import copy_derived
from refnet.projections.store.views import Period
from refnet.services.demo.generator import demo_history
from tests.integration import row_counts
from tests.integration.world import World

pytestmark = pytest.mark.integration

BERLIN = dt.timezone(dt.timedelta(hours=1))


def between(start: dt.datetime | None, end: dt.datetime | None) -> Period:
    return Period(**{"from": start, "to": end})


def periods(first: dt.datetime, last: dt.datetime, count: int) -> list[Period]:
    """Hand-picked edges, then random ones (seeded: a failure names its period)."""
    picked = [
        Period(),
        Period(**{"from": dt.datetime(2025, 1, 1, tzinfo=BERLIN)}),
        Period(to=dt.datetime(2025, 6, 1, tzinfo=BERLIN)),
        Period(
            **{"from": dt.datetime(2025, 3, 1, tzinfo=BERLIN), "to": first + (last - first) / 2}
        ),
        Period(
            **{
                "from": dt.datetime(2025, 3, 4, 10, tzinfo=dt.UTC),
                "to": dt.datetime(2025, 3, 4, 17, tzinfo=dt.UTC),
            }
        ),
        # At the calendar's ends, where a Berlin midnight is no instant PostgreSQL holds.
        between(None, dt.datetime(1, 1, 1, 8, 21, 8, tzinfo=dt.UTC)),
        between(dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=BERLIN)),
        between(dt.datetime(9999, 12, 31, 22, 59, tzinfo=dt.UTC), None),
    ]
    rng = random.Random(20261203)
    span = (last - first).total_seconds()
    for _ in range(count):
        start = first + dt.timedelta(seconds=rng.uniform(-0.1 * span, 1.1 * span))
        length = rng.choice([rng.uniform(0, 3 * 86400), rng.uniform(0, span)])
        end = start + dt.timedelta(seconds=length)
        picked.append(
            Period(**{"from": rng.choice([start, None]), "to": rng.choice([end, end, None])})
        )
    return picked


async def refusal_or(view: Awaitable[object]) -> object:
    """The view, or the refusal of a series it cannot draw (both must refuse alike)."""
    try:
        return await view
    except network_views.MonthRangeError as exc:
        return f"refused: {exc}"


async def differences(conn: Conn, period: Period, overdue_days: int) -> list[str]:
    kept_and_counted = [
        (
            await queries.network_outcomes(conn, period, overdue_days),
            await row_counts.network_outcomes(conn, period, overdue_days),
        ),
        (
            await network_views.network_funnel(conn, period),
            await row_counts.network_funnel(conn, period),
        ),
        (
            await network_views.referral_flows(conn, period),
            await row_counts.referral_flows(conn, period),
        ),
        (
            await refusal_or(network_views.monthly_outcomes(conn, period)),
            await refusal_or(row_counts.monthly_outcomes(conn, period)),
        ),
    ]
    return [
        f"{type(kept).__name__} for {period}: kept {kept}, counted {counted}"
        for kept, counted in kept_and_counted
        if kept != counted
    ]


async def test_every_view_from_the_kept_counts_equals_the_count_over_the_rows(
    running: World,
) -> None:
    running.publish(demo_history())
    await running.wait()
    async with running.connection() as conn:
        assert await count_drift(conn) == []
        first: dt.datetime = await conn.fetchval("SELECT min(first_enrolled_at) FROM participants")
        last: dt.datetime = await conn.fetchval(
            "SELECT max(greatest(placed_at, exited_at)) FROM participants"
        )
        found: list[str] = []
        for period in periods(first, last, 120):
            found += await differences(conn, period, running.settings.referral_overdue_days)
        assert found == []
        outcomes = await queries.network_outcomes(conn, Period(), 14)
        assert (outcomes.participants, outcomes.placed.total) == (413, 148)

        kept = await conn.fetch("SELECT * FROM read_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6")
        await recount_all(conn)
        assert await conn.fetch("SELECT * FROM read_counts ORDER BY 1, 2, 3, 4, 5, 6") == kept


async def test_a_count_that_drifted_from_its_rows_is_named(running: World) -> None:
    running.publish(demo_history()[:200])
    await running.wait()
    async with running.connection() as conn:
        assert await count_drift(conn) == []
        await conn.execute(
            "UPDATE read_counts SET n = n + 1 WHERE (measure, span, day) = "
            "(SELECT measure, span, day FROM read_counts WHERE measure = 'cohort' LIMIT 1)"
        )
        drift = await count_drift(conn)
        assert len(drift) >= 1 and all(line.startswith("cohort ") for line in drift)
        assert "kept" in drift[0] and "counted" in drift[0]


async def test_the_workers_contributions_are_the_measures_of_the_rows(running: World) -> None:
    """The worker moves the counts by contributions it works out itself: they must be
    what each measure's SQL selects from the same rows, participant by participant."""
    running.publish(demo_history())
    await running.wait()
    async with running.connection() as conn:
        stored = await conn.fetch("SELECT participant_id, facts::text FROM participant_state")
        states = [ParticipantState.from_json(pid, facts) for pid, facts in stored]
        assert len(states) >= 413  # the enrolled, and some only referred or rejected
        for state in states:
            mine = contributions(derive(state)) if state.facts else Counter()
            assert mine == await contributions_of(conn, [state.participant_id]), state
        assert await count_drift(conn) == []


def random_rows(rng: random.Random, pid: str) -> ParticipantRows:
    """Rows no history need make: ties, ends before starts, trainings nested and open."""
    hours = [rng.randrange(-48, 24 * 400) for _ in range(6)]

    def at() -> str:
        return format_utc(
            dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
            + dt.timedelta(hours=rng.choice(hours), microseconds=rng.choice([0, 0, 1, 999_999]))
        )

    def maybe() -> str | None:
        return rng.choice([None, at()])

    partners = ["jc", "ch", "tc"]
    participant = ParticipantRow(
        pid,
        rng.random() < 0.8,
        maybe(),
        rng.choice([None, "Nord", "Süd"]),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        maybe(),
        rng.choice([None, "job", "apprenticeship"]),
        None,
        maybe(),
        None,
        None,
    )
    referrals = [
        ReferralRow(
            pid,
            f"r{i}",
            rng.choice(partners),
            rng.choice(partners),
            "s",
            "Nord",
            at(),
            rng.choice(["pending", "accepted", "declined", "withdrawn"]),
            maybe(),
            None,
            None,
        )
        for i in range(rng.randrange(4))
    ]
    trainings = [
        TrainingRow(pid, f"t{i}", "tc", "course", at(), maybe(), None)
        for i in range(rng.randrange(5))
    ]
    links = [
        PartnerLinkRow(rng.choice(partners), pid, role, at())
        for role in ("enrolled", "accepted", "placed")
        if rng.random() < 0.5
    ]
    return ParticipantRows(participant, referrals, trainings, links)


async def test_contributions_of_random_rows_are_the_measures_of_the_rows(world: World) -> None:
    rng = random.Random(20261203)
    async with world.connection() as conn:
        for case in range(300):
            rows = random_rows(rng, f"p{case}")
            scratch = conn.transaction()
            await scratch.start()
            await copy_derived(conn, [rows])
            counted = await contributions_of(conn, [f"p{case}"])
            await scratch.rollback()
            assert contributions(rows) == counted, rows
