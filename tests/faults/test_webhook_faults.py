"""The webhook delivery worker through a PostgreSQL crash: it waits, it does not end,
and every notice owed is delivered once the database is back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from refnet.events.catalogue import EventModel
from tests.faults import harness as h
from tests.integration.webhook_receiver import (
    FAST,
    Receiver,
    endpoint_of,
    eventually,
    log_of,
    start_delivery,
)
from tests.integration.world import T0, World, enrolled, run_sync
from tests.integration.world_events import new_pid, sent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_the_webhook_worker_waits_out_a_postgresql_crash(tmp_path: Path) -> None:
    world = World.create(tmp_path, **FAST)
    receiver = Receiver()
    receiver.start()
    try:
        endpoint = endpoint_of(world, "bobeq", receiver.url)
        world.start_worker()
        delivery = start_delivery(world)

        def referral(n: int) -> list[EventModel]:
            pid = new_pid(f"crash{n}")
            return [enrolled(pid, partner="awo-en", at=T0),
                    sent(pid, "awo-en", "bobeq", f"r{n}", T0 + dt.timedelta(days=1))]  # fmt: skip

        before = referral(1)
        world.publish(before)
        eventually(lambda: len(receiver.received) == 1, 60, "the first notice")
        h.postgres(world.settings, "stop")  # -m immediate: a crash
        after = referral(2)
        world.publish(after)  # the log takes it; the database is down
        log = world.log_dir / "webhooks.log"
        # It met the database down while judging the new records, and kept them.
        eventually(lambda: "records again in" in log.read_text(), 60, "the worker's retry")
        assert delivery.poll() is None, log.read_text()[-2000:]
        h.postgres(world.settings, "start")

        def delivered() -> bool:
            entries = log_of(world, endpoint)
            return len(entries) == 2 and all(d.state == "delivered" for d in entries)

        eventually(delivered, 120, "both notices delivered after the restart")
        received = receiver.notices(endpoint.secret)
        assert {n["data"]["event_id"] for n in received.values()} == {
            str(before[1].event_id),
            str(after[1].event_id),
        }
        assert delivery.poll() is None, log.read_text()[-2000:]
    finally:
        receiver.stop()
        h.postgres(world.settings, "start")
        world.stop_all()
        world.drop()
        run_sync(world.drop_schema())
