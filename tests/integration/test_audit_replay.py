"""As-of outcomes and timelines: from the log alone (the CLI) and from the read model (the API).

The scripted history has a late-recorded placement, a retracted placement and a
placement reported by two partners; its counts at several instants are worked
out by hand below, for both time bases.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from refnet.events import catalogue as c
from refnet.events.catalogue import EventModel
from refnet.projections.audit.asof import TimeBasis
from refnet.projections.audit.reads import stored_outcomes_as_of, stored_timeline
from refnet.projections.store.queries import network_outcomes
from refnet.projections.store.views import NetworkOutcomes, Period
from refnet.services.api.app import create_app
from refnet.services.cli.main import app
from refnet.services.demo.generator import demo_history
from refnet.services.localstack.process import settings_env
from refnet.services.registry.tokens import issue_token
from tests.integration.world import World, enrolled, new_pid, placed, retracted, run_sync

pytestmark = pytest.mark.integration

UTC = dt.UTC


def day(month: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2024, month, d, hour, tzinfo=UTC)


def late(event: EventModel, recorded_at: dt.datetime) -> EventModel:
    return event.model_copy(update={"recorded_at": recorded_at})


class Script:
    """Four participants; what happened to each is in `events`."""

    def __init__(self) -> None:
        self.a, self.b, self.c, self.d = (new_pid(x) for x in "abcd")
        a_placed_bobeq = placed(self.a, "bobeq", day(3, 1), kind="apprenticeship")
        a_placed_jobcenter = late(
            placed(self.a, "jobcenter-en", day(3, 5), kind="employment"), day(3, 6)
        )
        b_placed_late = late(placed(self.b, "caritas-witten", day(2, 20)), day(4, 15))
        self.c_placed = placed(self.c, "bobeq", day(2, 10))
        self.c_retraction = retracted(self.c_placed, day(4, 1))
        self.events: list[EventModel] = [
            enrolled(self.a, "awo-en", day(1, 10)),
            enrolled(self.c, "awo-en", day(1, 20)),
            enrolled(self.b, "caritas-witten", day(2, 1)),
            self.c_placed,
            a_placed_bobeq,
            a_placed_jobcenter,
            enrolled(self.d, "jobcenter-en", day(3, 10)),
            self.c_retraction,
            b_placed_late,
        ]


# (as_of, basis) -> (participants, placed, apprenticeship, employment)
EXPECTED: dict[tuple[dt.datetime, TimeBasis], tuple[int, int, int, int]] = {
    # Feb 15. Known then: a, b, c enrolled and c placed (its retraction came on Apr 1).
    # Happened by then, as known today: c's placement was retracted; b's was on Feb 20.
    (day(2, 15), TimeBasis.RECORDED): (3, 1, 0, 1),
    (day(2, 15), TimeBasis.OCCURRED): (3, 0, 0, 0),
    # Mar 3. Known: a placed by bobeq (jobcenter's report came Mar 6), c still placed.
    # Happened: a placed, and b placed on Feb 20 though nobody knew until Apr 15.
    (day(3, 3), TimeBasis.RECORDED): (3, 2, 1, 1),
    (day(3, 3), TimeBasis.OCCURRED): (3, 2, 1, 1),
    # Apr 10. Known: d enrolled, c's placement retracted, b's placement still unknown.
    (day(4, 10), TimeBasis.RECORDED): (4, 1, 1, 0),
    (day(4, 10), TimeBasis.OCCURRED): (4, 2, 1, 1),
    # May 1: both bases agree. a counts once although two partners reported it.
    (day(5, 1), TimeBasis.RECORDED): (4, 2, 1, 1),
    (day(5, 1), TimeBasis.OCCURRED): (4, 2, 1, 1),
}


def counts(outcomes: dict[str, Any]) -> tuple[int, int, int, int]:
    placed_ = outcomes["placed"]
    return (
        outcomes["participants"],
        placed_["total"],
        placed_["apprenticeship"],
        placed_["employment"],
    )


def cli(world: World, *args: str) -> Any:
    result = CliRunner().invoke(app, ["audit", *args], env=settings_env(world.settings))
    assert result.exit_code == 0, result.output
    return result


def replayed(world: World, as_of: dt.datetime, basis: TimeBasis) -> dict[str, Any]:
    result = cli(world, "replay", "--as-of", as_of.isoformat(), "--time", basis.value, "--json")
    body: dict[str, Any] = json.loads(result.stdout)
    assert body["time"] == basis.value
    return body


async def stored(world: World, as_of: dt.datetime, basis: TimeBasis) -> NetworkOutcomes:
    async with world.connection() as conn:
        return await stored_outcomes_as_of(conn, as_of, basis, 14)


@pytest.fixture
def scripted(world: World) -> tuple[World, Script]:
    script = Script()
    world.publish(script.events)
    world.start_worker()
    run_sync(world.wait())
    return world, script


def test_as_of_counts_from_the_log_follow_both_time_bases(
    scripted: tuple[World, Script],
) -> None:
    world, _script = scripted
    for basis in TimeBasis:
        instants = [as_of for as_of, b in EXPECTED if b is basis]
        flags = [arg for as_of in instants for arg in ("--as-of", as_of.isoformat())]
        result = cli(world, "replay", *flags, "--time", basis.value, "--json")
        bodies = json.loads(result.stdout)  # one pass over the log answers every instant
        assert [b["as_of"] for b in bodies] == [t.isoformat() for t in instants]
        for as_of, body in zip(instants, bodies, strict=True):
            assert counts(body["outcomes"]) == EXPECTED[(as_of, basis)], (as_of, basis)
            assert body["log"]["records"] == 9


def test_as_of_counts_from_the_read_model_equal_the_replay(
    scripted: tuple[World, Script],
) -> None:
    world, _script = scripted
    for (as_of, basis), expected in EXPECTED.items():
        outcomes = run_sync(stored(world, as_of, basis))
        assert counts(outcomes.model_dump()) == expected, (as_of, basis)
        assert outcomes.model_dump(exclude={"period"}) == replayed(world, as_of, basis)["outcomes"]


def test_each_partner_keeps_its_report_of_a_shared_placement(
    scripted: tuple[World, Script],
) -> None:
    world, _script = scripted
    body = replayed(world, day(5, 1), TimeBasis.OCCURRED)
    placed_by = {p["partner_id"]: p["placed"] for p in body["outcomes"]["by_partner"]}
    # a: bobeq and jobcenter-en both reported it; c's placement by bobeq was retracted.
    assert placed_by == {"awo-en": 0, "bobeq": 1, "caritas-witten": 1, "jobcenter-en": 1}


def test_a_timeline_marks_the_retraction_with_who_and_why(
    scripted: tuple[World, Script],
) -> None:
    world, script = scripted
    from_log = json.loads(
        cli(world, "history", script.c, "--json", "--reason", "audit test").stdout
    )
    from_model = run_sync(_timeline(world, script.c))
    assert from_model == from_log

    kinds = [(e["type"], e["status"]) for e in from_log["events"]]
    assert kinds == [
        ("participant.enrolled", "counts"),
        ("participant.placed", "retracted"),
        ("event.retracted", "counts"),
    ]
    placement = from_log["events"][1]
    assert placement["event_id"] == str(script.c_placed.event_id)
    assert placement["partner_id"] == "bobeq"
    assert placement["occurred_at"] == "2024-02-10T10:00:00Z"
    assert placement["retracted_by"] == [
        {
            "event_id": str(script.c_retraction.event_id),
            "partner_id": "bobeq",
            "reason": "recorded in error",
            "occurred_at": "2024-04-01T10:00:00Z",
            "recorded_at": "2024-04-01T10:00:00Z",
        }
    ]


def test_a_timeline_shows_late_recording_and_rejected_events(world: World) -> None:
    pid = new_pid("t")
    enrolment = enrolled(pid, "awo-en", day(1, 10))
    placement = late(placed(pid, "bobeq", day(2, 1)), day(6, 1))
    foreign = c.EventRetracted(
        event_id=uuid.uuid4(),
        partner_id="caritas-witten",
        site="witten",
        participant_id=pid,
        occurred_at=day(6, 2),
        recorded_at=day(6, 2),
        data=c.RetractedData(retracted_event_id=placement.event_id, reason="not ours"),
    )
    world.publish([enrolment, placement, foreign])
    world.start_worker()
    run_sync(world.wait())

    timeline = json.loads(cli(world, "history", pid, "--json", "--reason", "audit test").stdout)
    assert run_sync(_timeline(world, pid)) == timeline
    rows = [(e["type"], e["status"], e["recorded_at"]) for e in timeline["events"]]
    assert rows == [
        ("participant.enrolled", "counts", "2024-01-10T10:00:00Z"),
        ("participant.placed", "counts", "2024-06-01T10:00:00Z"),
        ("event.retracted", "rejected", "2024-06-02T10:00:00Z"),
    ]
    assert "only bobeq, which emitted event" in timeline["events"][2]["rejection_reason"]


def test_an_unknown_participant_is_a_clear_error(world: World) -> None:
    world.publish([enrolled(new_pid("u"))])
    result = CliRunner().invoke(
        app,
        ["audit", "history", "nobody-here", "--reason", "audit test"],
        env=settings_env(world.settings),
    )
    assert result.exit_code == 1
    assert "participant_id: no event about 'nobody-here'" in result.output


def test_replay_at_now_equals_the_live_network_outcomes(world: World) -> None:
    """The Python counting of the replay and the SQL of the API agree on a whole network."""
    world.publish(demo_history())
    world.start_worker()
    run_sync(world.wait())
    body = replayed(world, dt.datetime.now(UTC), TimeBasis.RECORDED)
    live = run_sync(_live(world))
    assert body["outcomes"] == live.model_dump(mode="json", exclude={"period"})
    assert (body["outcomes"]["participants"], body["outcomes"]["placed"]["total"]) == (413, 148)


async def _live(world: World) -> NetworkOutcomes:
    async with world.connection() as conn:
        return await network_outcomes(conn, Period(), world.settings.referral_overdue_days)


async def _timeline(world: World, pid: str) -> dict[str, Any]:
    async with world.connection() as conn:
        found = await stored_timeline(conn, pid)
    assert found is not None
    result: dict[str, Any] = json.loads(found.model_dump_json())
    return result


async def test_the_api_answers_auditors_and_records_each_timeline_read(
    scripted: tuple[World, Script],
) -> None:
    world, script = scripted
    application = create_app(world.settings)
    async with application.router.lifespan_context(application):
        async with world.connection() as conn:
            auditor = await issue_token(conn, "auditor")
        headers = {"Authorization": f"Bearer {auditor.token}"}
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://refnet.test") as http:
            answer = await http.get(
                "/v1/audit/outcomes",
                params={"as_of": "2024-04-10T10:00:00Z", "time": "occurred"},
                headers=headers,
            )
            history = await http.get(f"/v1/audit/participants/{script.c}/history", headers=headers)
            missing = await http.get("/v1/audit/participants/nobody-here/history", headers=headers)
            bad = await http.get("/v1/audit/outcomes", params={"time": "later"}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert counts(answer.json()["outcomes"]) == EXPECTED[(day(4, 10), TimeBasis.OCCURRED)]
    assert history.status_code == 200
    assert [e["status"] for e in history.json()["events"]] == ["counts", "retracted", "counts"]
    assert missing.status_code == 404
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "time"
    reads = await world.fetch("SELECT token_id, role, participant_id, what FROM record_reads")
    # Only the read that showed a record is noted; the 404 showed nothing.
    assert [tuple(r) for r in reads] == [(auditor.token_id, "auditor", script.c, "audit history")]
