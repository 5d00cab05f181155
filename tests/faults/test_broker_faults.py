"""The broker SIGKILLed and restarted while the API and the Python client publish.

Each publisher retries what was not confirmed; the worker projects all the
while. Numbers a refused publish reserved are accounted for, so verify stays
intact, and every acknowledged event is in the log and counted once.
"""

from __future__ import annotations

import pytest

from refnet.events.catalogue import EventModel
from refnet.events.errors import PublishFailed
from tests.faults import harness as h
from tests.integration.world import World

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def test_broker_killed_while_the_api_takes_single_posts(
    world: World, api: h.ServedApi, repetition: int
) -> None:
    world.start_worker()
    api.start()
    client = h.RetryingClient(api, h.issue_partner_token(world))
    events = h.flat(h.histories(1_125, f"brokerapi{repetition}", placer="awo-en"))  # 1,500 events

    def post_one_by_one() -> None:
        for event in events:
            client.post_until_accepted([event], deadline=float("inf"))

    publishing = h.Background(post_one_by_one)
    publishing.start()
    h.eventually(lambda: client.attempts >= 500, 120, "the 500th post")
    h.kill_broker(world.settings)
    h.start_broker(world.settings)
    publishing.result(timeout=300)
    api.stop()

    verdict = h.conclude(
        world, "broker SIGKILL at the 500th of 1,500 API posts", events, client.acknowledged,
        client.refused,
    )  # fmt: skip

    h.assert_nothing_lost(verdict)
    assert verdict.log_records >= verdict.acknowledged


def test_broker_killed_while_the_python_client_publishes(world: World, repetition: int) -> None:
    world.start_worker()
    people = h.histories(9_000, f"brokerclient{repetition}")
    batches = [h.flat(people[n : n + 300]) for n in range(0, len(people), 300)]
    acknowledged: list[EventModel] = []
    refused = [0]

    def publish_batches() -> None:
        for batch in batches:
            while True:
                try:
                    world.publish(batch)
                except PublishFailed:
                    refused[0] += 1  # the client's retry: the same events, new numbers
                    continue
                acknowledged.extend(batch)
                break

    everything = h.flat(batches)
    world.publish(batches[0])
    acknowledged.extend(batches.pop(0))
    # The worker is projecting (not still starting) when the broker goes.
    h.eventually(lambda: h.applied_events(world) > 0, 120, "the worker's first batch")
    publishing = h.Background(publish_batches)
    publishing.start()
    h.eventually(lambda: len(acknowledged) >= 4_000, 120, "4,000 confirmed events")
    h.kill_broker(world.settings)
    h.start_broker(world.settings)
    publishing.result(timeout=300)

    verdict = h.conclude(
        world, "broker SIGKILL while the Python client publishes (batches of ~400)",
        everything, acknowledged, refused[0],
    )  # fmt: skip

    h.assert_nothing_lost(verdict)
