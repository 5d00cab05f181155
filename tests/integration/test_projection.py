"""The projection end to end: the real broker, real worker processes, the real database.

Every test waits on offsets (the read model caught up with the log), never on sleeps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from refnet.services.demo.generator import demo_history, expected_summary
from tests.integration.api_client import coordinator_get
from tests.integration.world import T0, World, enrolled, history, new_pid, placed, retracted

pytestmark = pytest.mark.integration


def pid() -> str:
    return new_pid("p")


async def test_demo_history_counts_through_the_api(running: World) -> None:
    events = demo_history()
    running.publish(events)
    await running.wait()
    expected = expected_summary(events)
    response = await coordinator_get(running.settings, "/v1/network/outcomes")
    body = response.json()
    assert response.status_code == 200, body
    assert body["participants"] == expected.participants == 413
    assert body["placed"]["total"] == expected.placed == 148
    assert body["placed"]["apprenticeship"] == expected.apprenticeship
    assert body["placed"]["employment"] == expected.employment
    assert body["referrals"]["pending"] == expected.referrals_pending
    # Publishing the same history again changes no count.
    running.publish(events)
    await running.wait()
    again = await running.outcomes()
    assert (again.participants, again.placed.total) == (413, 148)


async def test_duplicate_event_id_counts_once(running: World) -> None:
    first = enrolled(pid())
    second_partner = enrolled(first.participant_id, partner="caritas-witten")
    same_id_other_body = placed(first.participant_id, event_id=first.event_id)
    running.publish([first, first, second_partner, same_id_other_body])
    await running.wait()
    outcomes = await running.outcomes()
    assert outcomes.participants == 1
    assert outcomes.placed.total == 0  # the placement reused an applied event_id
    links = await running.fetch("SELECT partner_id, role FROM partner_links ORDER BY 1")
    assert links == [("awo-en", "enrolled"), ("caritas-witten", "enrolled")]


async def test_retracted_placement_is_not_counted(running: World) -> None:
    person = pid()
    placement = placed(person, at=T0 + dt.timedelta(days=10))
    running.publish([enrolled(person), placement])
    await running.wait()
    assert (await running.outcomes()).placed.total == 1
    running.publish([retracted(placement, T0 + dt.timedelta(days=11))])
    await running.wait()
    outcomes = await running.outcomes()
    assert outcomes.placed.total == 0
    assert outcomes.participants == 1


async def test_placement_reported_by_two_partners_counts_once(running: World) -> None:
    person = pid()
    running.publish(
        [
            enrolled(person),
            placed(person, partner="bobeq", at=T0 + dt.timedelta(days=5), kind="apprenticeship"),
            placed(person, partner="jobcenter-en", at=T0 + dt.timedelta(days=6)),
        ]
    )
    await running.wait()
    outcomes = await running.outcomes()
    assert outcomes.placed.total == 1
    assert outcomes.placed.apprenticeship == 1
    by_partner = {p.partner_id: p.placed for p in outcomes.by_partner}
    assert by_partner["bobeq"] == 1 and by_partner["jobcenter-en"] == 1


async def test_poison_messages_are_dead_lettered_and_later_events_applied(running: World) -> None:
    person = pid()
    invalid = enrolled(person).model_dump(mode="json") | {"site": "Not A Slug"}
    running.publish_raw(person.encode(), b"\xff not json at all")
    running.publish_raw(person.encode(), encode_json(invalid))
    running.publish([enrolled(person)])
    await running.wait()
    assert (await running.outcomes()).participants == 1
    parked = await running.fetch('SELECT reason FROM dead_letters ORDER BY "offset"')
    assert len(parked) == 2
    assert parked[0][0].startswith("undecodable")
    assert "site" in parked[1][0]
    reasons = running.dead_letter_reasons(expected=2)
    assert reasons[0].startswith("undecodable") and "site" in reasons[1]


def encode_json(value: dict[str, object]) -> bytes:
    import json

    return json.dumps(value).encode()


async def test_resetting_consumer_group_offsets_changes_nothing(running: World) -> None:
    running.publish(history(300, pid()))
    await running.wait()
    before = await running.dump()
    running.stop_all()
    reset_group_to_start(running)
    running.start_worker()
    late = enrolled(pid())
    running.publish([late])
    await running.wait()
    after = await running.dump()
    new_rows = [r for r in after["participants"] if r[0] == late.participant_id]
    assert len(new_rows) == 1
    after["participants"] = [r for r in after["participants"] if r[0] != late.participant_id]
    after["participant_state"] = [
        r for r in after["participant_state"] if r[0] != late.participant_id
    ]
    after["partner_links"] = [r for r in after["partner_links"] if r[1] != late.participant_id]
    after["consents"] = [r for r in after["consents"] if r[0] != late.participant_id]
    assert after == before


def reset_group_to_start(world: World) -> None:
    admin = AdminClient({"bootstrap.servers": world.settings.kafka_bootstrap})
    partitions = [
        TopicPartition(world.settings.topic_events, p, 0)
        for p in range(world.settings.topic_partitions)
    ]
    request = [ConsumerGroupTopicPartitions(world.settings.consumer_group, partitions)]
    for future in admin.alter_consumer_group_offsets(request).values():
        future.result()


async def test_two_workers_in_one_group_equal_one(running: World) -> None:
    running.start_worker()  # a second worker in the same group
    events = history(1500, pid())
    running.publish(events)
    await running.wait()
    await both_own_partitions(running)
    single = running.sibling()
    single.start_worker()
    try:
        await single.wait()
        assert_same_read_model(await running.dump(), await single.dump())
    finally:
        single.stop_all()
        await single.drop_schema()


async def both_own_partitions(world: World, timeout: float = 60.0) -> None:
    """Until each worker's heartbeat names partitions of its own, together all of them."""
    pids = {w.pid for w in world.workers}
    deadline = time.monotonic() + timeout
    sql = "SELECT pid, partitions FROM projection_workers WHERE consumer_group = $1"
    while True:
        owned: dict[int, list[int]] = dict(await world.fetch(sql, world.settings.consumer_group))
        mine = [set(owned.get(pid) or []) for pid in pids]
        everything = set().union(*mine) == set(range(world.settings.topic_partitions))
        # Heartbeats are written apart: during a rebalance two may briefly name one partition.
        if all(mine) and everything and not set.intersection(*mine):
            return
        assert time.monotonic() < deadline, f"the workers do not own disjoint partitions: {owned}"
        await asyncio.sleep(0.2)  # polling the next heartbeats


async def test_worker_killed_mid_stream_ends_like_a_rebuild(running: World) -> None:
    running.publish(history(20_000, pid()))  # about 27,000 events
    worker = running.workers[0]
    await wait_for_progress(running, at_least=2_000)
    running.kill(worker)  # SIGKILL: no shutdown, no commit
    applied_at_kill = await applied(running)
    running.start_worker()
    await running.wait(timeout=300)
    assert applied_at_kill < await applied(running)
    rebuild = running.sibling()
    rebuild.start_worker()
    try:
        await rebuild.wait(timeout=300)
        assert_same_read_model(await running.dump(), await rebuild.dump())
    finally:
        rebuild.stop_all()
        await rebuild.drop_schema()


def assert_same_read_model(got: dict[str, list[object]], want: dict[str, list[object]]) -> None:
    """Table by table; on a difference, name a few rows instead of diffing everything."""
    for table in want:
        got_rows, want_rows = set(got[table]), set(want[table])
        missing = [r for r in want[table] if r not in got_rows][:3]
        extra = [r for r in got[table] if r not in want_rows][:3]
        assert not missing and not extra, f"{table}: missing {missing}, unexpected {extra}"
        assert len(got[table]) == len(want[table]), f"{table}: row counts differ"


async def applied(world: World) -> int:
    rows = await world.fetch("SELECT coalesce(sum(next_offset), 0) FROM projection_offsets")
    return int(rows[0][0])


async def wait_for_progress(world: World, at_least: int, timeout: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            if await applied(world) >= at_least:
                return
        except Exception:  # the worker has not created its schema yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker applied fewer than {at_least} events in {timeout}s")


async def test_worker_refuses_a_log_shorter_than_its_read_model(running: World) -> None:
    running.publish(history(30, pid()))
    await running.wait()
    running.stop_all()
    running.drop()  # the topic is recreated empty: the stored offsets now lie beyond its end
    recreate_topics(running)
    worker = running.start_worker()
    assert worker.wait(timeout=120) == 70  # EX_SOFTWARE: stopped loudly, nothing skipped


def recreate_topics(world: World) -> None:
    from refnet.services.kafka.topics import ensure_topics

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = ensure_topics(world.settings)
        if all(not state.problems for state in states):
            return
    raise AssertionError("topics were not recreated")
