"""RefNet's own processes killed: the API mid-batch, a worker mid-rebalance, a reset under a worker.

Each ends with the read model equal to a replay of the log and the counts
equal to an independent fold of what was acknowledged.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from refnet.services.api.app import create_app
from refnet.services.localstack.process import settings_env
from tests.faults import harness as h
from tests.integration.world import World, run_sync

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def test_api_killed_in_the_middle_of_a_1000_event_batch(
    world: World, api: h.ServedApi, repetition: int
) -> None:
    world.start_worker()
    api.start()
    token = h.issue_partner_token(world)
    warmup = h.flat(h.histories(750, f"apiwarm{repetition}", placer="awo-en"))
    batch = h.flat(h.histories(750, f"apikill{repetition}", placer="awo-en"))  # 1,000 events
    assert len(batch) == 1_000
    client = h.RetryingClient(api, token)
    started = time.monotonic()
    client.post_until_accepted(warmup, deadline=started + 60)
    takes = time.monotonic() - started  # how long one such request lasts here
    first: dict[str, object] = {}

    def post() -> None:
        try:
            first["answer"] = httpx.post(
                f"{api.url}/v1/events",
                json=h.as_body(batch),
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ).status_code
        except httpx.TransportError as exc:
            first["answer"] = type(exc).__name__

    sender = threading.Thread(target=post)
    sender.start()
    time.sleep(random.uniform(0.1, 0.9) * takes)  # the fault's moment: inside the request
    api.kill()
    sender.join(timeout=60)
    reached = world.log_size() - len(warmup)
    api.start()  # the client's retry goes to the restarted API
    client.post_until_accepted(batch, deadline=time.monotonic() + 120)
    api.stop()

    verdict = h.conclude(
        world,
        f"API SIGKILL inside a 1,000-event batch (client saw {first['answer']!s}; {reached} "
        "of it in the log), then the client's retry",
        warmup + batch, client.acknowledged, client.refused + 1,
    )  # fmt: skip

    h.assert_nothing_lost(verdict)


def test_worker_killed_during_a_rebalance_of_two(world: World, repetition: int) -> None:
    events = h.flat(h.histories(12_000, f"rebalance{repetition}"))
    first = world.start_worker()
    assert world.publish(events) == len(events)
    h.eventually(lambda: h.applied_events(world) >= len(events) // 5, 120, "a fifth applied")
    world.start_worker()  # joining makes the group rebalance
    time.sleep(random.uniform(0.5, 3.0))  # the fault's moment: while the group rebalances
    world.kill(first)
    world.start_worker()  # a replacement joins: another rebalance

    verdict = h.conclude(world, "worker SIGKILL during a rebalance of two workers", events, events)

    h.assert_nothing_lost(verdict)


def reset(world: World, *flags: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "refnet.services.cli.main", "projections", "reset", "--yes"]
    return subprocess.run(
        [*argv, *flags],
        env=settings_env(world.settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_projections_reset_with_a_worker_running(world: World, repetition: int) -> None:
    events = h.flat(h.histories(9_000, f"reset{repetition}"))
    world.start_worker()
    assert world.publish(events) == len(events)
    h.eventually(lambda: h.applied_events(world) >= len(events) // 3, 120, "a third applied")

    refused = reset(world)
    assert refused.returncode == 1, refused
    assert "are running" in refused.stderr and "--force" in refused.stderr
    assert h.applied_events(world) > 0  # nothing was emptied

    forced = reset(world, "--force")
    assert forced.returncode == 0, forced.stderr
    verdict = h.conclude(
        world, "`projections reset --force` under a running worker", events, events
    )

    h.assert_nothing_lost(verdict)
    assert verdict.refused_batches >= 1  # the worker saw offsets go back and sought to them
    health = run_sync(read_health(world))
    assert health["status"] == "ok", health
    assert health["projection"]["up"] is True
    assert health["projection"]["refused_batches"] == verdict.refused_batches
    [worker] = health["projection"]["workers"]
    assert worker["state"] == "ok" and worker["pid"] == world.workers[0].pid


async def read_health(world: World) -> dict[str, Any]:
    """`GET /v1/health` of an in-process API on the world's settings, as a partner."""
    token = h.issue_partner_token(world)
    application = create_app(world.settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://refnet.test") as http:
            answer = await http.get("/v1/health", headers={"Authorization": f"Bearer {token}"})
    body: dict[str, Any] = answer.json()
    return body
