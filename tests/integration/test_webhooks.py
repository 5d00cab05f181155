"""Partner webhooks end to end: a scripted history through the broker, the projection and
the delivery worker, to receivers on this machine that verify every signature.

Each receiver is a real HTTP server; one is down (nothing listening) for the first
attempts and another answers 503 at first, and both still get exactly their notices.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from refnet.events.catalogue import EventModel
from refnet.services.webhooks.endpoints import (
    Endpoint,
    enable_endpoint,
    list_endpoints,
)
from tests.integration.test_metrics import Scrape, samples, value
from tests.integration.webhook_receiver import (
    FAST,
    Receiver,
    endpoint_of,
    eventually,
    log_of,
    start_delivery,
)
from tests.integration.world import T0, World, enrolled, run_sync
from tests.integration.world_events import accepted, declined, new_pid, sent
from tests.integration.world_serving import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def hooks_world(tmp_path: Path) -> Iterator[World]:
    created = World.create(tmp_path, **FAST)
    yield created
    created.stop_all()
    created.drop()
    run_sync(created.drop_schema())


def test_a_scripted_history_gives_each_partner_exactly_its_notices_signed(
    hooks_world: World,
) -> None:
    world = hooks_world
    sender, receiver_partner, bystander = "awo-en", "bobeq", "caritas-witten"
    down = Receiver()  # the sender's endpoint: nothing listens at first
    refusing = Receiver(status=503)  # the receiver's endpoint: answers 503 at first
    refusing.start()
    other = Receiver()
    other.start()
    to_sender = endpoint_of(world, sender, down.url)
    to_receiver = endpoint_of(world, receiver_partner, refusing.url)
    to_other = endpoint_of(world, bystander, other.url)

    pid, t = new_pid("hook"), T0
    history: list[EventModel] = [
        enrolled(pid, partner=sender, at=t),
        sent(pid, sender, receiver_partner, "r1", t + dt.timedelta(days=1)),
        accepted(pid, receiver_partner, "r1", t + dt.timedelta(days=2)),
        sent(pid, sender, receiver_partner, "r2", t + dt.timedelta(days=3)),
        declined(pid, sender, "r2", t + dt.timedelta(days=4)),  # not its to answer: rejected
        declined(pid, receiver_partner, "r2", t + dt.timedelta(days=5)),
    ]
    unsigned = enrolled(new_pid("hook"), partner=receiver_partner, at=t)
    world.start_worker()
    metrics_port = free_port()
    start_delivery(world, metrics_port)
    world.publish(history)
    world.publish_unsigned([unsigned])  # parked as a dead letter: unsigned

    # Both endpoints failed at least once before they came back.
    def tried(endpoint: Endpoint) -> bool:
        entries = log_of(world, endpoint)
        return len(entries) == 3 and all(d.attempts >= 1 for d in entries)

    def delivered(endpoint: Endpoint) -> bool:
        entries = log_of(world, endpoint)
        return len(entries) == 3 and all(d.state == "delivered" for d in entries)

    eventually(lambda: tried(to_sender), 120, "failed attempts to the sender's endpoint")
    eventually(lambda: tried(to_receiver), 60, "503s from the receiver's endpoint")
    down.start()
    refusing.status = 204
    eventually(lambda: delivered(to_sender), 60, "the sender's notices delivered")
    eventually(lambda: delivered(to_receiver), 60, "the receiver's notices delivered")
    for endpoint in (down, refusing, other):
        endpoint.stop()

    def kinds(notices: dict[str, dict[str, Any]]) -> set[tuple[str, str | None, str | None]]:
        return {
            (n["type"], n["data"]["event_id"], n["data"].get("answer") or n["data"].get("by"))
            for n in notices.values()
        }

    e = [str(event.event_id) for event in history]
    assert kinds(down.notices(to_sender.secret)) == {
        ("referral.answered", e[2], "accepted"),
        ("event.rejected", e[4], "rules"),
        ("referral.answered", e[5], "declined"),
    }
    assert kinds(refusing.notices(to_receiver.secret)) == {
        ("referral.received", e[1], None),
        ("referral.received", e[3], None),
        ("event.rejected", str(unsigned.event_id), "dead-letter"),
    }
    assert other.received == [] and log_of(world, to_other) == []
    # Ids and types only: no pseudonym, no name, no reason text in any payload.
    for _, body, _ in down.received + refusing.received:
        assert pid not in body.decode() and unsigned.participant_id not in body.decode()
    retried = [d for d in log_of(world, to_receiver) if d.attempts > 1]
    assert retried, "the 503s were retried"
    dead = next(
        n for n in refusing.notices(to_receiver.secret).values() if n["type"] == "event.rejected"
    )
    assert dead["data"]["reason"] == "unsigned"

    # The delivery worker's metrics tell the same story: six notices queued, six
    # delivered, the failures before them counted, and nothing left owed.
    def queue_empty() -> Scrape | None:
        scraped = samples(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text)
        return scraped if value(scraped, "refnet_webhook_oldest_pending_seconds") == 0 else None

    scraped = eventually(queue_empty, 30, "the metrics to show an empty queue")
    queued = {
        kind: value(scraped, "refnet_webhook_notices_total", type=kind)
        for kind in ("referral.received", "referral.answered", "event.rejected")
    }
    assert queued == {"referral.received": 2, "referral.answered": 2, "event.rejected": 2}
    assert value(scraped, "refnet_webhook_deliveries_total", outcome="delivered") == 6
    attempts = sum(d.attempts for d in log_of(world, to_sender) + log_of(world, to_receiver))
    failed = value(scraped, "refnet_webhook_deliveries_total", outcome="failed")
    assert failed == attempts - 6 and failed >= 6
    assert value(scraped, "refnet_webhook_post_duration_seconds_count") == attempts
    assert value(scraped, "refnet_webhook_pending_notices") == 0


def test_a_day_of_failures_disables_an_endpoint_until_it_is_enabled(tmp_path: Path) -> None:
    world = World.create(tmp_path, **FAST, webhook_disable_after=2.0)  # "a day", shortened
    try:
        failing = Receiver(status=500)
        failing.start()
        endpoint = endpoint_of(world, "awo-en", failing.url)
        pid = new_pid("hook")
        events: list[EventModel] = [
            enrolled(pid, partner="bobeq", at=T0),
            sent(pid, "bobeq", "awo-en", "r1", T0 + dt.timedelta(days=1)),
        ]
        world.start_worker()
        start_delivery(world)
        world.publish(events)

        def disabled() -> bool:
            async def read() -> bool:
                async with world.connection() as conn:
                    (found,) = await list_endpoints(conn, "awo-en")
                    return found.disabled_at is not None

            return bool(run_sync(read()))

        eventually(disabled, 60, "the endpoint disabled")
        tries = len(failing.received)
        time.sleep(1.5)  # a disabled endpoint is not tried again
        assert len(failing.received) == tries
        (pending,) = log_of(world, endpoint)
        assert pending.state == "pending" and pending.last_status == 500 and pending.attempts >= 2

        failing.status = 200

        async def enable() -> None:
            async with world.connection() as conn:
                await enable_endpoint(conn, endpoint.endpoint_id)

        run_sync(enable())
        eventually(lambda: log_of(world, endpoint)[0].state == "delivered", 30, "delivery")
        (notice,) = failing.notices(endpoint.secret).values()
        assert notice["type"] == "referral.received"
        assert notice["data"]["event_id"] == str(events[1].event_id)
        failing.stop()
    finally:
        world.stop_all()
        world.drop()
        run_sync(world.drop_schema())
