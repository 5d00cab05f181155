"""The demo network, loaded once into a world of its own and served by `refnet serve`.

The world is the integration tests' (its own topics and schemas); a worker keeps
projecting while the browser tests run, so an answer given in the browser
reaches the coordinator's pages as it would in production.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from refnet.events.catalogue import EventModel
from refnet.services.demo.generator import demo_history
from refnet.services.registry.tokens import issue_token
from tests.integration.world import World, run_sync, served_api

PARTNER = "jobcenter-en"
"""The partner whose staff sign in: the demo leaves it the most referrals unanswered."""


@dataclass(frozen=True)
class Dashboard:
    """A served demo network: its base URL, a token per role, and the world behind it."""

    url: str
    world: World
    tokens: Mapping[str, str]
    participant: str
    """A demo pseudonym with an accepted referral and a placement, for the timeline lookup."""


def _storied(events: list[EventModel]) -> str:
    """The first participant who was referred, accepted and placed: a timeline worth showing."""
    accepted = {e.participant_id for e in events if e.type == "referral.accepted"}
    return next(
        e.participant_id
        for e in events
        if e.type == "participant.placed" and e.participant_id in accepted
    )


async def _issue_tokens(world: World) -> dict[str, str]:
    async with world.connection() as conn:
        return {
            "coordinator": (await issue_token(conn, "coordinator", label="browser")).token,
            "auditor": (await issue_token(conn, "auditor", label="browser")).token,
            "partner": (await issue_token(conn, "partner", PARTNER, label="browser")).token,
        }


@contextmanager
def served_demo(log_dir: Path) -> Iterator[Dashboard]:
    """Publish the demo history, project it, serve it; remove the world afterwards."""
    world = World.create(log_dir)
    try:
        events = demo_history()
        world.publish(events)
        world.start_worker()
        run_sync(world.wait(timeout=240))
        tokens = run_sync(_issue_tokens(world))
        with served_api(world, log_dir / "api.log") as url:
            yield Dashboard(url=url, world=world, tokens=tokens, participant=_storied(events))
    finally:
        world.dispose()
