"""The network views and the follow-ups due, end to end: real broker, real worker, real database.

Each test publishes a small hand-built history, waits until the read model has
caught up with the log, and reads the views back through the API (and, where a
date must be fixed, through the query functions the API and the dashboard call).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from refnet.events import catalogue as c
from refnet.events import vocabulary as v
from refnet.events.catalogue import EventModel
from refnet.projections.store.network_views import follow_ups_due
from refnet.services.demo.generator import demo_history
from tests.integration.api_client import serving
from tests.integration.world import World, enrolled, envelope, new_pid, placed, retracted
from tests.integration.world_events import accepted, declined, sent

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
H1_2025 = "from=2025-01-01&to=2025-07-01"


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


# ------------------------------------------------------------------ events


def started(pid: str, partner: str, when: dt.datetime) -> c.TrainingStarted:
    data = c.TrainingStartedData(training_id="t1", kind=v.TrainingKind.LANGUAGE_COURSE)
    return c.TrainingStarted(**envelope(pid, partner, when), data=data)


def exited(pid: str, partner: str, when: dt.datetime) -> c.ParticipantExited:
    data = c.ExitedData(reason=v.ExitReason.COMPLETED_PROGRAMME, situation=v.Situation.OTHER)
    return c.ParticipantExited(**envelope(pid, partner, when), data=data)


def followed_up(pid: str, partner: str, when: dt.datetime) -> c.ParticipantFollowedUp:
    data = c.FollowedUpData(situation=v.Situation.IN_EMPLOYMENT)
    return c.ParticipantFollowedUp(**envelope(pid, partner, when), data=data)


async def told(world: World, events: list[EventModel]) -> None:
    world.publish(events)
    await world.wait()


# ------------------------------------------------------------------ the API


# ------------------------------------------------------------------ the funnel


async def test_the_funnel_follows_the_periods_cohort_through_each_stage(running: World) -> None:
    a, b, c_, d, f, late, gone, earlier = (new_pid(n) for n in "abcdfxgh")
    withdrawn = sent(c_, "awo-en", "bobeq", "r-wd", at(2025, 3, 6))
    dropped = enrolled(gone, at=at(2025, 5, 1))
    await told(
        running,
        [
            # Enrolled twice, by two partners: one participant; reaches every stage.
            enrolled(a, at=at(2025, 2, 1)),
            enrolled(a, partner="caritas-witten", at=at(2025, 3, 1)),
            sent(a, "awo-en", "bobeq", "r1", at(2025, 2, 2)),
            accepted(a, "bobeq", "r1", at(2025, 2, 3)),
            started(a, "bobeq", at(2025, 2, 10)),
            placed(a, at=at(2025, 4, 1)),
            # Referred, but declined.
            enrolled(b, at=at(2025, 2, 10)),
            sent(b, "awo-en", "jobcenter-en", "r2", at(2025, 2, 11)),
            declined(b, "jobcenter-en", "r2", at(2025, 2, 12)),
            # Its only referral withdrawn: not referred; in a training.
            enrolled(c_, at=at(2025, 3, 5)),
            withdrawn,
            retracted(withdrawn, at(2025, 3, 7)),
            started(c_, "hwk-dortmund-aba", at(2025, 3, 8)),
            enrolled(d, at=at(2025, 4, 1)),
            # Placed after the period ends: the cohort's later progress counts.
            enrolled(f, at=at(2025, 6, 15)),
            placed(f, at=at(2025, 8, 1)),
            # Outside the cohort: enrolled at 23:30 UTC before the period, an enrolment
            # retracted, and a first enrolment before the period with a second in it.
            enrolled(late, at=at(2024, 12, 31, 23, 30)),
            placed(late, at=at(2025, 2, 1)),
            dropped,
            retracted(dropped, at(2025, 5, 2)),
            enrolled(earlier, at=at(2024, 11, 1)),
            enrolled(earlier, partner="caritas-witten", at=at(2025, 3, 1)),
        ],
    )
    async with serving(running.settings) as api:
        funnel = await api.ok(f"/v1/network/funnel?{H1_2025}")
        as_auditor = await api.ok(f"/v1/network/funnel?{H1_2025}", who="auditor")
        everything = await api.ok("/v1/network/funnel")
        partner = await api.get(f"/v1/network/funnel?{H1_2025}", who="awo-en")

    assert funnel["enrolled"] == 5
    assert [(s["stage"], s["participants"], s["share"]) for s in funnel["stages"]] == [
        ("enrolled", 5, 1.0),
        ("referred", 2, 0.4),
        ("accepted", 1, 0.2),
        ("training_started", 2, 0.4),
        ("placed", 2, 0.4),
    ]
    assert funnel["period"] == {"from": "2025-01-01T00:00:00Z", "to": "2025-07-01T00:00:00Z"}
    assert as_auditor == funnel
    assert [s["participants"] for s in everything["stages"]] == [7, 2, 1, 2, 3]
    assert partner.status_code == 403
    assert partner.json()["error"]["code"] == "forbidden"


# ------------------------------------------------------------------ referral flows


async def test_referral_flows_count_each_pair_by_its_first_answer(running: World) -> None:
    p, q = new_pid("p"), new_pid("q")
    withdrawn = sent(p, "awo-en", "bobeq", "r4", at(2025, 3, 1))
    await told(
        running,
        [
            enrolled(p, at=at(2024, 6, 1)),
            enrolled(q, partner="caritas-witten", at=at(2024, 6, 1)),
            sent(p, "awo-en", "bobeq", "r1", at(2025, 1, 10)),
            accepted(p, "bobeq", "r1", at(2025, 1, 12)),
            sent(p, "awo-en", "bobeq", "r2", at(2025, 2, 1)),
            accepted(p, "bobeq", "r2", at(2025, 2, 5)),
            declined(p, "bobeq", "r2", at(2025, 2, 6)),  # a second answer: ignored
            sent(p, "awo-en", "bobeq", "r3", at(2025, 2, 20)),
            withdrawn,
            retracted(withdrawn, at(2025, 3, 2)),
            sent(p, "awo-en", "jobcenter-en", "r5", at(2025, 4, 1)),
            declined(p, "jobcenter-en", "r5", at(2025, 4, 2)),
            sent(q, "caritas-witten", "awo-en", "r6", at(2024, 12, 1)),  # before the period
            accepted(q, "awo-en", "r6", at(2024, 12, 2)),
            sent(q, "caritas-witten", "awo-en", "r7", at(2025, 5, 1)),
            sent(q, "caritas-witten", "hwk-dortmund-aba", "r8", at(2025, 7, 1, 0)),  # at `to`
        ],
    )
    async with serving(running.settings) as api:
        flows = await api.ok(f"/v1/network/referral-flows?{H1_2025}", who="auditor")
        everything = await api.ok("/v1/network/referral-flows")
        partner = await api.get("/v1/network/referral-flows", who="bobeq")

    assert flows["partners"] == ["awo-en", "bobeq", "caritas-witten", "jobcenter-en"]
    cells = {(f["from_partner"], f["to_partner"]): f for f in flows["flows"]}
    assert list(cells) == [
        ("awo-en", "bobeq"),
        ("awo-en", "jobcenter-en"),
        ("caritas-witten", "awo-en"),
    ]
    counted = ("sent", "accepted", "declined", "pending", "acceptance_rate")
    figures = {pair: tuple(cell[k] for k in counted) for pair, cell in cells.items()}
    assert figures == {
        ("awo-en", "bobeq"): (3, 2, 0, 1, 1.0),
        ("awo-en", "jobcenter-en"): (1, 0, 1, 0, 0.0),
        ("caritas-witten", "awo-en"): (1, 0, 0, 1, None),
    }
    medians = {pair: cell["median_days_to_answer"] for pair, cell in cells.items()}
    assert medians == {
        ("awo-en", "bobeq"): 3.0,  # 2 and 4 days; r2's later decline counts nowhere
        ("awo-en", "jobcenter-en"): 1.0,
        ("caritas-witten", "awo-en"): None,
    }
    all_cells = {(f["from_partner"], f["to_partner"]): f["sent"] for f in everything["flows"]}
    assert all_cells[("caritas-witten", "awo-en")] == 2
    assert all_cells[("caritas-witten", "hwk-dortmund-aba")] == 1
    assert "hwk-dortmund-aba" in everything["partners"]
    assert partner.status_code == 403


# ------------------------------------------------------------------ months


BERLIN_JAN_TO_APR = "from=2025-01-01T00:00:00%2B01:00&to=2025-05-01T00:00:00%2B02:00"


async def test_monthly_outcomes_follow_berlin_months_with_zeros_between(running: World) -> None:
    x, y, z = new_pid("x"), new_pid("y"), new_pid("z")
    await told(
        running,
        [
            enrolled(x, at=at(2025, 1, 31, 23, 30)),  # 00:30 on 1 February in Berlin
            placed(x, partner="bobeq", at=at(2025, 2, 20)),
            placed(x, partner="jobcenter-en", at=at(2025, 3, 2)),  # the same person again
            exited(x, "awo-en", at(2025, 2, 10)),
            exited(x, "awo-en", at(2025, 3, 5)),  # not the first exit
            enrolled(y, at=at(2025, 1, 15)),
            placed(y, at=at(2025, 4, 10)),
            exited(y, "awo-en", at(2025, 4, 20)),
            enrolled(z, at=at(2025, 4, 30, 22, 30)),  # 00:30 on 1 May in Berlin
        ],
    )
    async with serving(running.settings) as api:
        whole = await api.ok(f"/v1/network/outcomes/monthly?{BERLIN_JAN_TO_APR}", who="auditor")
        by_utc = await api.ok("/v1/network/outcomes/monthly?from=2025-01-01&to=2025-05-01")
        everything = await api.ok("/v1/network/outcomes/monthly")
        outcomes = await api.ok(f"/v1/network/outcomes?{BERLIN_JAN_TO_APR}")
        anonymous = await api.get("/v1/network/outcomes/monthly", who="")
        partner = await api.get("/v1/network/outcomes/monthly", who="awo-en")

    def rows(body: dict[str, Any]) -> list[tuple[Any, ...]]:
        keys = ("month", "enrolments", "placements", "exits", "partial")
        return [tuple(m[k] for k in keys) for m in body["months"]]

    assert whole["timezone"] == "Europe/Berlin"
    assert rows(whole) == [
        ("2025-01-01", 1, 0, 0, False),
        ("2025-02-01", 1, 1, 1, False),
        ("2025-03-01", 0, 0, 0, False),
        ("2025-04-01", 0, 1, 1, False),
    ]
    assert sum(m["placements"] for m in whole["months"]) == outcomes["placed"]["total"] == 2
    # UTC midnights cut the first and the last Berlin month by an hour or two.
    assert rows(by_utc) == [
        ("2025-01-01", 1, 0, 0, True),
        ("2025-02-01", 1, 1, 1, False),
        ("2025-03-01", 0, 0, 0, False),
        ("2025-04-01", 0, 1, 1, False),
        ("2025-05-01", 1, 0, 0, True),
    ]
    assert rows(everything) == [*rows(whole), ("2025-05-01", 1, 0, 0, False)]
    assert anonymous.status_code == 401
    assert partner.status_code == 403


CENTURY = "from=1925-01-01T00:00:00%2B01:00&to=2025-01-01T00:00:00%2B01:00"


async def test_a_monthly_series_too_long_to_draw_is_a_422_naming_the_bounds(world: World) -> None:
    async with serving(world.settings) as api:
        both = await api.get(
            "/v1/network/outcomes/monthly?from=1900-01-01&to=2200-01-01", "auditor"
        )
        from_only = await api.ok("/v1/network/outcomes/monthly?from=1900-01-01")
        century = await api.ok(f"/v1/network/outcomes/monthly?{CENTURY}")
        empty = await api.ok("/v1/network/outcomes/monthly")

    assert both.status_code == 422, both.text
    error = both.json()["error"]
    assert {f["field"] for f in error["fields"]} == {"from", "to"}
    assert "3601 months" in error["fields"][0]["reason"]
    # One bound, nothing counted: the series is the bound's month, cut at 01:00 Berlin.
    assert [(m["month"], m["enrolments"], m["partial"]) for m in from_only["months"]] == [
        ("1900-01-01", 0, True)
    ]
    assert len(century["months"]) == 1200
    assert empty["months"] == []


# ------------------------------------------------------------------ follow-ups


NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def berlin_date(instant: dt.datetime) -> dt.date:
    return instant.astimezone(BERLIN).date()


# Left at 23:30 in Berlin in winter: 150 x 24 hours later it is 00:30 the next day
# in summer time, so the window opens on 10 June, not on 9 June.
FIXED_EXIT = dt.datetime(2025, 1, 10, 22, 30, tzinfo=dt.UTC)
FIXED_OPENS, FIXED_CLOSES = dt.date(2025, 6, 10), dt.date(2025, 9, 8)


@dataclass
class FollowUpStory:
    people: dict[str, str]  # name -> pseudonym
    exits: dict[str, dt.datetime]


def follow_up_story() -> tuple[FollowUpStory, list[EventModel]]:
    """awo-en's people, one elsewhere (caritas-witten), one with fixed dates (jobcenter-en)."""
    names = ("open", "overdue", "done", "early", "not_yet", "staying", "elsewhere", "fixed")
    people = {name: new_pid(name.replace("_", "")) for name in names}
    exits = {"open": 200, "overdue": 300, "done": 220, "early": 210, "not_yet": 100}
    exit_at = {name: ago(days) for name, days in exits.items()}
    exit_at |= {"elsewhere": ago(200), "fixed": FIXED_EXIT}
    partners = {"elsewhere": "caritas-witten", "fixed": "jobcenter-en"}
    events: list[EventModel] = []
    for name, pid in people.items():
        partner = partners.get(name, "awo-en")
        events.append(enrolled(pid, partner=partner, at=ago(800)))
        if name in exit_at:
            events.append(exited(pid, partner, exit_at[name]))
    events += [
        placed(people["overdue"], partner="bobeq", at=ago(400)),
        followed_up(people["done"], "awo-en", exit_at["done"] + dt.timedelta(days=160)),
        followed_up(people["early"], "awo-en", exit_at["early"] + dt.timedelta(days=30)),
    ]
    return FollowUpStory(people, exit_at), events


async def test_follow_ups_due_list_open_and_overdue_windows_soonest_first(running: World) -> None:
    tale, events = follow_up_story()
    await told(running, events)
    async with serving(running.settings) as api:
        awo = await api.ok("/v1/partners/awo-en/follow-ups", who="awo-en")
        as_coordinator = await api.ok("/v1/partners/awo-en/follow-ups")
        overdue = await api.ok("/v1/partners/awo-en/follow-ups?status=overdue", who="awo-en")
        still_open = await api.ok("/v1/partners/awo-en/follow-ups?status=open", who="awo-en")
        paged = await api.ok("/v1/partners/awo-en/follow-ups?limit=1&offset=1", who="awo-en")
        bobeq = await api.ok("/v1/partners/bobeq/follow-ups", who="bobeq")
        caritas = await api.ok("/v1/partners/caritas-witten/follow-ups", who="caritas-witten")
        foreign = await api.get("/v1/partners/awo-en/follow-ups", who="bobeq")
        auditor = await api.get("/v1/partners/awo-en/follow-ups", who="auditor")
        bad_status = await api.get("/v1/partners/awo-en/follow-ups?status=done", "awo-en")

    name_of = {pid: name for name, pid in tale.people.items()}
    listed = [(name_of[r["participant_id"]], r["status"]) for r in awo]
    # Closing soonest first: overdue (closed 60 days ago), early (in 30), open (in 40).
    assert listed == [("overdue", "overdue"), ("early", "open"), ("open", "open")]
    for row in awo:
        left = tale.exits[name_of[row["participant_id"]]]
        assert dt.datetime.fromisoformat(row["exited_at"]) == left
        assert row["opens_on"] == berlin_date(left + dt.timedelta(days=150)).isoformat()
        assert row["closes_on"] == berlin_date(left + dt.timedelta(days=240)).isoformat()
        assert (row["site"], row["leaving_situation"]) == ("witten", "other")
    assert as_coordinator == awo
    assert overdue == awo[:1] and still_open == awo[1:] and paged == awo[1:2]
    assert [name_of[r["participant_id"]] for r in bobeq] == ["overdue"]  # linked by placement
    assert [name_of[r["participant_id"]] for r in caritas] == ["elsewhere"]
    assert (foreign.status_code, auditor.status_code) == (403, 403)
    assert foreign.json()["error"]["code"] == "forbidden"
    assert bad_status.status_code == 422
    assert [f["field"] for f in bad_status.json()["error"]["fields"]] == ["status"]


async def test_a_follow_up_window_opens_and_closes_on_its_berlin_dates(running: World) -> None:
    tale, events = follow_up_story()
    await told(running, events)

    async def status_on(day: dt.date) -> list[tuple[str, dt.date, dt.date]]:
        async with running.connection() as conn:
            due = await follow_ups_due(conn, "jobcenter-en", today=day)
        return [(d.status, d.opens_on, d.closes_on) for d in due]

    window = (FIXED_OPENS, FIXED_CLOSES)
    assert await status_on(FIXED_OPENS - dt.timedelta(days=1)) == []
    assert await status_on(FIXED_OPENS) == [("open", *window)]
    assert await status_on(FIXED_CLOSES) == [("open", *window)]
    assert await status_on(FIXED_CLOSES + dt.timedelta(days=1)) == [("overdue", *window)]
    async with running.connection() as conn:
        (today,) = await follow_ups_due(conn, "jobcenter-en")
        none_open = await follow_ups_due(conn, "jobcenter-en", status="open")
    assert (today.participant_id, today.status) == (tale.people["fixed"], "overdue")
    assert none_open == []


# ------------------------------------------------------------------ the demo network


async def test_the_demo_networks_funnel_holds_its_413_participants_and_148_placed(
    running: World,
) -> None:
    await told(running, demo_history())
    async with serving(running.settings) as api:
        funnel = await api.ok("/v1/network/funnel")
        outcomes = await api.ok("/v1/network/outcomes")
        monthly = await api.ok("/v1/network/outcomes/monthly")

    stages = {s["stage"]: s["participants"] for s in funnel["stages"]}
    assert funnel["enrolled"] == stages["enrolled"] == outcomes["participants"] == 413
    assert stages["placed"] == outcomes["placed"]["total"] == 148
    assert sum(m["enrolments"] for m in monthly["months"]) == 413
    assert sum(m["placements"] for m in monthly["months"]) == 148
