"""The world, app, client and callers the authorisation tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from refnet.events.publisher import Publisher
from refnet.services.api.app import create_app
from refnet.services.demo.network import DEMO_PARTNERS
from tests.integration.authorization.seeding import (
    BASE,
    Caller,
    contact_events,
    data_keys,
    make_callers,
    person,
    seed_events,
    start_worker,
)
from tests.integration.world import World, run_sync

# The endpoints come from the app's own route table (and its OpenAPI schema), so a
# new one cannot escape: it either falls under a rule or the test fails. A world of
# its own holds, for each of the seven demo partners, one participant it enrolled
# and referred on to the next partner, and one event the projection rejected; so
# every partner's caseload, referrals, inbox, outbox and rejections have rows, and a
# refusal that leaked them would show. Each answer is checked for its exact status;
# refusals carry the error JSON and no participant at all; allowed reads carry only
# the rows of the partner in the path.
#
# Each enrolled participant's contact details are recorded (sealed) by the partner
# that enrolled them, and nobody consented to pass them on: every answer is checked
# for them too, and only the enrolling partner's own token may see them (its own
# intake), never the partner a referral went to, nor the coordinator.
#
# The matrix (endpoint x kind of caller -> statuses) is printed at the end of the
# run and written as Markdown to `authorization-matrix.md` in the test's tmp dir.


@pytest.fixture(scope="package")
def authz_world(infrastructure: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world whose read model holds the seed, applied by a real worker."""
    world = World.create(tmp_path_factory.mktemp("authz"))
    try:
        assert world.publish(seed_events()) == 3 * len(DEMO_PARTNERS)
        publisher = Publisher(
            world.settings, signer_for=world.keys.signer, data_keys=data_keys(world)
        )
        assert publisher.publish(contact_events()).delivered == len(DEMO_PARTNERS)
        start_worker(world)
        run_sync(world.wait())
        rejected = run_sync(world.fetch("SELECT participant_id FROM rejections"))
        assert {r[0] for r in rejected} == {person("stranger", n) for n in range(7)}
        yield world
    finally:
        world.dispose()


@pytest.fixture(scope="package")
async def app(authz_world: World) -> AsyncIterator[FastAPI]:
    application = create_app(authz_world.settings)
    async with application.router.lifespan_context(application):
        if getattr(application.state, "data_keys", None) is None:
            application.state.data_keys = data_keys(authz_world)
        yield application


@pytest.fixture(scope="package")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


@pytest.fixture(scope="package")
async def callers(app: FastAPI) -> list[Caller]:
    return await make_callers(app)
