"""PostgreSQL crashing under the worker and going away under the API: nothing lost.

With `synchronous_commit=off` a crash loses the worker's last transactions,
rows and offsets together: the worker must notice that the stored offsets
went back and apply that range again. With flushed commits a crash only
aborts the batch in flight, which the worker retries.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.faults import harness as h
from tests.integration.world import World, run_sync

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@pytest.mark.parametrize("synchronous", [False, True], ids=["commit-unflushed", "commit-flushed"])
def test_postgres_crashes_while_the_worker_projects(
    world: World, repetition: int, synchronous: bool
) -> None:
    people = h.histories(12_000, f"pgcrash{synchronous:d}{repetition}")
    events = h.flat(people)
    # Unflushed commits are what a crash loses: the harder case for the worker.
    world.settings = world.settings.model_copy(
        update={"projection_synchronous_commit": synchronous}
    )
    world.start_worker()
    assert world.publish(events) == len(events)
    # Three crashes at random points of the catch-up, each once the worker has
    # applied that share of the log and is committing batch after batch.
    for share in sorted(random.uniform(0.1, 0.8) for _ in range(3)):
        h.eventually(
            lambda s=share: h.applied_events(world) >= s * len(events), 180, f"{share:.0%}"
        )
        h.postgres(world.settings, "restart")

    mode = "synchronous_commit on" if synchronous else "synchronous_commit off"
    fault = f"PostgreSQL `-m immediate` restart ×3 while projecting ({mode})"
    verdict = h.conclude(world, fault, events, events)

    h.assert_nothing_lost(verdict)
    assert world.workers[0].poll() is None, "the worker must ride out the crashes"


def test_postgres_down_for_half_a_minute_while_the_api_ingests(
    world: World, api: h.ServedApi, repetition: int
) -> None:
    world.start_worker()
    api.start()
    client = h.RetryingClient(api, h.issue_partner_token(world))
    people = h.histories(20_000, f"pgdown{repetition}", placer="awo-en")
    outage: dict[str, int] = {"over": 0}

    def ingest() -> None:
        deadline = time.monotonic() + 240
        # Five participants' whole histories per request, until the outage is
        # over and the client has posted for a while after it.
        for n in range(0, len(people), 5):
            client.post_until_accepted(h.flat(people[n : n + 5]), deadline)
            if outage["over"] and client.attempts > outage.get("after", 0) + 50:
                break

    publishing = h.Background(ingest)
    publishing.start()
    h.eventually(lambda: len(client.acknowledged) >= 100, 60, "the first accepted posts")
    h.postgres(world.settings, "stop")
    time.sleep(30)  # the fault itself: half a minute without PostgreSQL
    h.postgres(world.settings, "start")
    outage["after"] = client.attempts
    outage["over"] = 1
    publishing.result(timeout=240)
    api.stop()

    sent = client.acknowledged  # every post was retried until accepted
    verdict = h.conclude(
        world, "PostgreSQL down 30 s while the API ingests", sent, sent, client.refused
    )

    assert client.statuses.get(503, 0) > 0, client.statuses
    h.assert_nothing_lost(verdict)
    # Nothing half-recorded: every event the gateway's ledger remembers is in the log.
    remembered = {r[0] for r in run_sync(world.fetch("SELECT event_id::text FROM ingested_events"))}
    assert remembered <= {str(e.event_id) for e in world.read_log()}


def test_worker_started_while_postgres_is_down(world: World, repetition: int) -> None:
    # An operator's restart order is not guaranteed: the worker may come up
    # first and must wait for the database rather than die or hang.
    people = h.histories(3_000, f"pgfirst{repetition}")
    events = h.flat(people)
    assert world.publish(events) == len(events)
    h.postgres(world.settings, "stop")
    try:
        world.start_worker()
        time.sleep(15)  # the worker's start, its assignment and first fetches, without PostgreSQL
        assert world.workers[0].poll() is None, "the worker must wait for PostgreSQL"
    finally:
        h.postgres(world.settings, "start")
    verdict = h.conclude(world, "worker started while PostgreSQL is down (15 s)", events, events)

    h.assert_nothing_lost(verdict)
    assert world.workers[0].poll() is None
