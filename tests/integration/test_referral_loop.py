"""Rules that need state, and the closed referral loop, end to end.

A scripted history goes through the real broker and a real worker into the
read model, and is read back through the API: events that break a rule become
rejections with their reason and change no count; the receiving partner's inbox
lists what waits for its answer, oldest first, with age and the overdue flag;
the sender's outbox shows each referral's state, withdrawals included.

Times are relative to now, because "overdue" is judged against now.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest

from refnet.events import catalogue as c
from refnet.events import vocabulary as v
from refnet.events.catalogue import EventModel
from tests.integration.api_client import PARTNERS, serving
from tests.integration.world import World, enrolled, envelope
from tests.integration.world_events import accepted, declined, sent

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# ------------------------------------------------------------------ events


def started(pid: str, partner: str, tid: str, at: dt.datetime) -> c.TrainingStarted:
    data = c.TrainingStartedData(training_id=tid, kind=v.TrainingKind.LANGUAGE_COURSE)
    return c.TrainingStarted(**envelope(pid, partner, at), data=data)


def completed(pid: str, partner: str, tid: str, at: dt.datetime) -> c.TrainingCompleted:
    data = c.TrainingCompletedData(training_id=tid, qualification_gained=True)
    return c.TrainingCompleted(**envelope(pid, partner, at), data=data)


def placed(pid: str, partner: str, at: dt.datetime) -> c.ParticipantPlaced:
    data = c.PlacedData(
        placement_id=f"pl-{pid}", kind=v.PlacementKind.EMPLOYMENT, start_date=at.date()
    )
    return c.ParticipantPlaced(**envelope(pid, partner, at), data=data)


def retracted(pid: str, partner: str, target: uuid.UUID, at: dt.datetime) -> c.EventRetracted:
    data = c.RetractedData(retracted_event_id=target, reason="recorded in error")
    return c.EventRetracted(**envelope(pid, partner, at), data=data)


# ------------------------------------------------------------------ the story


@dataclass
class Story:
    """One referred participant's history, then events that each break a rule."""

    pid: str
    stranger: str  # never enrolled
    valid: list[EventModel]
    breaking: dict[uuid.UUID, tuple[str, str]]  # event_id -> (partner, reason)
    events: dict[str, EventModel]

    def rejected_by(self, partner: str) -> dict[str, str]:
        return {str(k): reason for k, (p, reason) in self.breaking.items() if p == partner}


def story() -> Story:
    pid, stranger = f"p-{uuid.uuid4().hex[:12]}", f"p-{uuid.uuid4().hex[:12]}"
    e: dict[str, EventModel] = {
        "enrol": enrolled(pid, "awo-en", ago(90)),
        "old": sent(pid, "awo-en", "bobeq", "r-old", ago(60)),
        "training": started(pid, "hwk-dortmund-aba", "t1", ago(30)),
        "acc": sent(pid, "awo-en", "caritas-witten", "r-acc", ago(20)),
        "acc-answer": accepted(pid, "caritas-witten", "r-acc", ago(18)),
        "dec": sent(pid, "awo-en", "jobcenter-en", "r-dec", ago(10)),
        "dec-answer": declined(pid, "jobcenter-en", "r-dec", ago(9)),
        "wd": sent(pid, "awo-en", "bobeq", "r-wd", ago(5)),
        "new": sent(pid, "awo-en", "bobeq", "r-new", ago(1)),
    }
    e["withdrawal"] = retracted(pid, "awo-en", e["wd"].event_id, ago(4))
    valid = list(e.values())
    unknown = uuid.uuid4()
    not_enrolled = f"participant {stranger} is not enrolled"
    enrol_id = e["enrol"].event_id
    breaking_events: list[tuple[EventModel, str]] = [
        (sent(stranger, "awo-en", "bobeq", "r-x", ago(3)), not_enrolled),
        (placed(stranger, "bobeq", ago(2.9)), not_enrolled),
        (
            accepted(pid, "jobcenter-en", "r-new", ago(0.9)),
            "only bobeq, the receiving partner, may answer referral r-new",
        ),
        (accepted(pid, "bobeq", "r-ghost", ago(0.8)), "no referral r-ghost for this participant"),
        (accepted(pid, "bobeq", "r-wd", ago(0.7)), "no referral r-wd for this participant"),
        (declined(pid, "caritas-witten", "r-acc", ago(0.6)), "referral r-acc was already accepted"),
        (
            retracted(pid, "bobeq", enrol_id, ago(0.5)),
            f"only awo-en, which emitted event {enrol_id}, may retract it",
        ),
        (
            retracted(pid, "awo-en", unknown, ago(0.4)),
            f"no event {unknown} for this participant",
        ),
        (
            retracted(pid, "awo-en", e["acc"].event_id, ago(0.3)),
            "referral r-acc was already answered; it can no longer be withdrawn",
        ),
        (
            completed(pid, "bobeq", "t1", ago(0.2)),
            "only hwk-dortmund-aba, which started training t1, may end it",
        ),
    ]
    breaking = {ev.event_id: (ev.partner_id, reason) for ev, reason in breaking_events}
    e |= {f"breaking-{n}": ev for n, (ev, _) in enumerate(breaking_events)}
    return Story(pid, stranger, valid, breaking, e)


async def told(world: World, events: list[EventModel]) -> None:
    world.publish(events)
    await world.wait()


# ------------------------------------------------------------------ rejections


async def test_events_that_break_a_rule_are_rejected_with_reasons_and_count_nowhere(
    running: World,
) -> None:
    tale = story()
    await told(running, tale.valid)
    outcomes_before, rows_before = await running.outcomes(), await running.dump()

    await told(running, [tale.events[k] for k in tale.events if k.startswith("breaking-")])

    rows = await running.fetch(
        "SELECT event_id, partner_id, participant_id, type, reason FROM rejections"
    )
    assert {r[0]: (r[1], r[4]) for r in rows} == {str(k): v for k, v in tale.breaking.items()}
    assert {(r[2], r[3]) for r in rows if r[2] == tale.stranger} == {
        (tale.stranger, "referral.sent"),
        (tale.stranger, "participant.placed"),
    }
    assert await running.outcomes() == outcomes_before
    after = await running.dump()
    for table in ("participants", "referrals", "trainings", "partner_links"):
        assert after[table] == rows_before[table], table
    assert await running.fetch("SELECT count(*) FROM dead_letters") == [(0,)]


async def test_a_republished_rejected_event_is_recorded_once_and_never_applied(
    running: World,
) -> None:
    pid = f"p-{uuid.uuid4().hex[:12]}"
    early = placed(pid, "bobeq", ago(10))
    await told(running, [early, enrolled(pid, "awo-en", ago(20))])
    first = await running.fetch("SELECT event_id, rejected_at FROM rejections")

    await told(running, [early])

    assert await running.fetch("SELECT event_id, rejected_at FROM rejections") == first
    assert [r[0] for r in first] == [str(early.event_id)]
    assert (await running.outcomes()).placed.total == 0


# ------------------------------------------------------------------ the API


@pytest.fixture
async def told_story(running: World) -> Story:
    tale = story()
    await told(running, tale.valid)
    await told(running, [tale.events[k] for k in tale.events if k.startswith("breaking-")])
    return tale


async def test_a_partner_sees_its_own_rejections_newest_first(
    running: World, told_story: Story
) -> None:
    tale = told_story
    async with serving(running.settings) as api:
        by_partner = {p: await api.ok(f"/v1/partners/{p}/rejections", who=p) for p in PARTNERS}
        as_coordinator = await api.ok("/v1/partners/bobeq/rejections")
        paged = await api.ok("/v1/partners/bobeq/rejections?limit=2&offset=1", who="bobeq")
        foreign = await api.get("/v1/partners/awo-en/rejections", who="bobeq")
        auditor = await api.get("/v1/partners/bobeq/rejections", who="auditor")
        anonymous = await api.get("/v1/partners/bobeq/rejections", who="")

    for partner, listed in by_partner.items():
        assert {r["event_id"]: r["reason"] for r in listed} == tale.rejected_by(partner)
    bobeq = by_partner["bobeq"]
    assert len(bobeq) == 5
    recorded = [r["recorded_at"] for r in bobeq]
    assert recorded == sorted(recorded, reverse=True)
    newest = bobeq[0]
    assert {k: newest[k] for k in ("event_id", "type", "participant_id", "reason")} == {
        "event_id": str(tale.events["breaking-9"].event_id),
        "type": "training.completed",
        "participant_id": tale.pid,
        "reason": "only hwk-dortmund-aba, which started training t1, may end it",
    }
    assert instant(newest["occurred_at"]) == instant(newest["recorded_at"]) == ago(0.2)
    assert instant(newest["rejected_at"]) > NOW
    assert as_coordinator == bobeq
    assert paged == bobeq[1:3]
    assert (foreign.status_code, auditor.status_code, anonymous.status_code) == (403, 403, 401)


async def test_the_inbox_lists_what_waits_for_an_answer_oldest_first(
    running: World, told_story: Story
) -> None:
    tale = told_story
    async with serving(running.settings) as api:
        bobeq = await api.ok("/v1/partners/bobeq/inbox", who="bobeq")
        caritas = await api.ok("/v1/partners/caritas-witten/inbox", who="caritas-witten")
        foreign = await api.get("/v1/partners/bobeq/inbox", who="caritas-witten")
        auditor = await api.get("/v1/partners/bobeq/inbox", who="auditor")

    assert [(r["referral_id"], r["overdue"]) for r in bobeq] == [
        ("r-old", True),
        ("r-new", False),
    ]
    assert [round(r["age_days"]) for r in bobeq] == [60, 1]
    assert bobeq[0] | {"age_days": None, "sent_at": None} == {
        "referral_id": "r-old",
        "participant_id": tale.pid,
        "from_partner": "awo-en",
        "service": "counselling",
        "site": "witten",
        "sent_at": None,
        "age_days": None,
        "overdue": True,
        # Enrolled by awo-en; nothing consents to passing contact details to bobeq.
        "contact": None,
        "contact_withheld": "no consent to pass contact details to bobeq",
    }
    assert instant(bobeq[0]["sent_at"]) == ago(60)
    assert caritas == []
    assert (foreign.status_code, auditor.status_code) == (403, 403)


async def test_the_outbox_shows_each_referrals_state_newest_first(
    running: World, told_story: Story
) -> None:
    async with serving(running.settings) as api:
        outbox = await api.ok("/v1/partners/awo-en/outbox", who="awo-en")
        withdrawn = await api.ok("/v1/partners/awo-en/outbox?state=withdrawn", who="awo-en")
        second_page = await api.ok("/v1/partners/awo-en/outbox?limit=2&offset=2", who="awo-en")
        old_view = await api.ok("/v1/partners/awo-en/referrals?direction=outbox")
        foreign = await api.get("/v1/partners/awo-en/outbox", who="bobeq")

    assert [(r["referral_id"], r["state"], r["overdue"]) for r in outbox] == [
        ("r-new", "pending", False),
        ("r-wd", "withdrawn", False),
        ("r-dec", "declined", False),
        ("r-acc", "accepted", False),
        ("r-old", "pending", True),
    ]
    assert [round(r["age_days"]) for r in outbox] == [1, 1, 1, 2, 60]
    (gone,) = withdrawn
    assert gone["referral_id"] == "r-wd" and gone["to_partner"] == "bobeq"
    assert instant(gone["withdrawn_at"]) == ago(4)
    assert (gone["answered_at"], gone["decline_reason"]) == (None, None)
    declined_row = outbox[2]
    assert declined_row["decline_reason"] == "no_capacity" and declined_row["answered_at"]
    assert second_page == outbox[2:4]
    assert sorted(r["referral_id"] for r in old_view) == ["r-acc", "r-dec", "r-new", "r-old"]
    assert foreign.status_code == 403


async def test_network_outcomes_count_overdue_referrals_by_the_configured_limit(
    running: World, told_story: Story
) -> None:
    limits = {}
    for days in (14, 59, 61):
        settings = running.settings.model_copy(update={"referral_overdue_days": days})
        async with serving(settings) as api:
            outcomes = await api.ok("/v1/network/outcomes", who="auditor")
            inbox = await api.ok("/v1/partners/bobeq/inbox")
        limits[days] = (outcomes["referrals"]["overdue"], [r["overdue"] for r in inbox])

    referrals = outcomes["referrals"]
    assert (referrals["sent"], referrals["accepted"], referrals["declined"]) == (4, 1, 1)
    assert referrals["pending"] == 2
    assert limits == {14: (1, [True, False]), 59: (1, [True, False]), 61: (0, [False, False])}


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/v1/partners/bobeq/inbox?limit=0", {"limit"}),
        ("/v1/partners/bobeq/inbox?offset=-1", {"offset"}),
        ("/v1/partners/bobeq/outbox?state=lost", {"state"}),
        ("/v1/partners/bobeq/outbox?limit=1001&state=x", {"limit", "state"}),
        ("/v1/partners/bobeq/rejections?limit=ten", {"limit"}),
        ("/v1/partners/Not_A_Slug/rejections", {"partner_id"}),
    ],
)
async def test_bad_parameters_are_422_naming_them(world: World, path: str, named: set[str]) -> None:
    async with serving(world.settings) as api:
        response = await api.get(path, who="coordinator")

    assert response.status_code == 422, response.text
    assert {f["field"] for f in response.json()["error"]["fields"]} == named
