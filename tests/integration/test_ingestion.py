"""`POST /v1/events` against the real broker and database: all or nothing, once, confirmed.

The app runs in-process over the ASGI transport with a world's settings; the
log is checked through its high watermarks, the projection through a worker.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from refnet.events.catalogue import EventModel
from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.api.deps import pooled
from refnet.services.registry.tokens import issue_token
from tests.integration.world import T0, World, enrolled, new_pid, placed

pytestmark = pytest.mark.integration

BASE = "http://refnet.test"


def pid() -> str:
    return new_pid("h")


def body(*events: EventModel) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json", exclude_none=True) for e in events]


async def token(app: FastAPI, role: str = "partner", partner: str | None = "awo-en") -> str:
    async with pooled(app.state.pool) as conn:
        issued = await issue_token(conn, role, partner if role == "partner" else None)
    return issued.token


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_accepted_events_are_signed_by_the_gateway_and_counted(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    world.start_worker()
    awo = await token(app)
    first, second = pid(), pid()
    single = await client.post("/v1/events", json=body(enrolled(first))[0], headers=auth(awo))
    assert single.status_code == 202, single.text
    assert single.json()["accepted"] == 1
    batch = body(enrolled(second), placed(second, partner="awo-en"))
    answer = await client.post("/v1/events", json=batch, headers=auth(awo))
    assert answer.status_code == 202, answer.text
    assert [e["status"] for e in answer.json()["events"]] == ["accepted", "accepted"]
    await world.wait()
    outcomes = await world.outcomes()
    assert (outcomes.participants, outcomes.placed.total) == (2, 1)
    assert await world.fetch("SELECT reason FROM dead_letters") == []
    logged = world.read_log()
    assert {e.publisher_id for e in logged} == {"gateway"}
    assert sorted(e.sequence or 0 for e in logged) == [0, 1, 2]


async def test_the_gateway_gives_unused_sequence_numbers_back_on_a_clean_stop(
    world: World,
) -> None:
    for expected_first in (0, 1):
        application = create_app(world.settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                awo = await token(application)
                posted = await client.post(
                    "/v1/events", json=body(enrolled(pid())), headers=auth(awo)
                )
                assert posted.status_code == 202
        numbers = await world.fetch("SELECT next_sequence FROM publisher_sequences")
        assert numbers == [(expected_first + 1,)]
    assert sorted(e.sequence or 0 for e in world.read_log()) == [0, 1]


async def test_a_repost_is_a_success_that_publishes_nothing(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    awo = await token(app)
    events = body(enrolled(pid()), enrolled(pid()))
    assert (await client.post("/v1/events", json=events, headers=auth(awo))).status_code == 202
    size = world.log_size()
    again = await client.post("/v1/events", json=events, headers=auth(awo))
    assert again.status_code == 202
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 2
    # The same event twice in one batch is published once.
    fresh = body(enrolled(pid()))
    twice = await client.post("/v1/events", json=fresh + fresh, headers=auth(awo))
    assert [e["status"] for e in twice.json()["events"]] == ["accepted", "duplicate"]
    assert world.log_size() == size + 1


async def test_an_event_id_reused_for_another_event_is_409(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    awo = await token(app)
    original = enrolled(pid())
    assert (await client.post("/v1/events", json=body(original), headers=auth(awo))).is_success
    size = world.log_size()
    other = enrolled(pid(), event_id=original.event_id)
    answer = await client.post("/v1/events", json=body(enrolled(pid()), other), headers=auth(awo))
    assert answer.status_code == 409
    [problem] = answer.json()["error"]["fields"]
    assert problem["index"] == 1 and problem["field"] == "event_id"
    assert problem["event_id"] == str(original.event_id)
    assert world.log_size() == size


async def test_one_invalid_event_rejects_the_batch_naming_each_problem(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    awo = await token(app)
    events = body(enrolled(pid()), enrolled(pid()), enrolled(pid()))
    events[1]["data"]["gender"] = "unknown"
    events[2]["site"] = "Not A Slug"
    events[2]["signature"] = "x" * 86
    size = world.log_size()
    answer = await client.post("/v1/events", json=events, headers=auth(awo))
    assert answer.status_code == 422
    fields = {(p["index"], p["field"]) for p in answer.json()["error"]["fields"]}
    assert fields == {(1, "data.gender"), (2, "site"), (2, "signature")}
    assert all(p["reason"] for p in answer.json()["error"]["fields"])
    assert world.log_size() == size


async def test_a_partner_publishes_only_its_own_events(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    awo = await token(app)
    events = body(enrolled(pid()), enrolled(pid(), partner="bobeq"))
    size = world.log_size()
    answer = await client.post("/v1/events", json=events, headers=auth(awo))
    assert answer.status_code == 403
    [problem] = answer.json()["error"]["fields"]
    assert (problem["index"], problem["field"]) == (1, "partner_id")
    assert problem["event_id"] == events[1]["event_id"]
    for role in ("coordinator", "auditor"):
        refused = await client.post(
            "/v1/events", json=events[:1], headers=auth(await token(app, role))
        )
        assert refused.status_code == 403
    assert (await client.post("/v1/events", json=events[:1])).status_code == 401
    assert world.log_size() == size


async def test_oversized_deep_and_undecodable_bodies_are_4xx(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    awo = auth(await token(app))
    limit = world.settings.ingest_max_bytes
    huge = b"[" + b" " * limit + b"]"
    assert (await client.post("/v1/events", content=huge, headers=awo)).status_code == 413
    many = body(*[enrolled(pid()) for _ in range(world.settings.ingest_max_events + 1)])
    too_many = await client.post("/v1/events", json=many, headers=awo)
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "too_many_events"
    deep = b"[" * 100_000 + b"]" * 100_000
    assert (await client.post("/v1/events", content=deep, headers=awo)).status_code == 400
    latin1 = (
        json.dumps(body(enrolled(pid()))).replace("Netzwerk", "Netzw\u00e9rk").encode("latin-1")
    )
    undecodable = await client.post("/v1/events", content=latin1, headers=awo)
    assert undecodable.status_code == 400 and undecodable.json()["error"]["code"] == "bad_encoding"
    assert (await client.post("/v1/events", json=[], headers=awo)).status_code == 422
    assert (await client.post("/v1/events", json=[1, "x"], headers=awo)).status_code == 422


async def test_broker_down_is_503_with_retry_hint_and_nothing_recorded(world: World) -> None:
    dead: Settings = world.settings.model_copy(
        update={"kafka_bootstrap": "127.0.0.1:9", "ingest_publish_timeout": 2.0}
    )
    application = create_app(dead)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            awo = await token(application)
            event = enrolled(pid(), at=T0 + dt.timedelta(days=1))
            answer = await client.post("/v1/events", json=body(event), headers=auth(awo))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert answer.json()["error"]["code"] == "log_unavailable"
    recorded = await world.fetch(
        "SELECT 1 FROM ingested_events WHERE event_id = $1", event.event_id
    )
    assert recorded == []
