"""The Prometheus metrics an operator scrapes: the API's `/metrics` and each worker's port.

Real broker, real PostgreSQL, a real worker process: the figures scraped must
be what happened (events applied, a poison record dead-lettered, no lag left),
and the API's must move by exactly what the requests did.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_ingestion import auth, body, token
from tests.integration.world import World, enrolled, history, new_pid
from tests.integration.world_serving import free_port

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def value(scraped: Scrape, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


async def test_a_worker_serves_what_it_applied_dead_lettered_and_its_lag(world: World) -> None:
    port = free_port()
    update = {"worker_metrics_port": port, "log_format": "json"}
    world.settings = world.settings.model_copy(update=update)
    events = history(20, "met")
    sent = world.publish(events)
    world.publish_raw(b"poison", b"{not json")
    world.start_worker()
    await world.wait()
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 60
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    while time.monotonic() < deadline:
        try:
            scraped = samples(httpx.get(url, timeout=5).text)
        except httpx.TransportError:
            scraped = {}
        lags = [v for (name, _), v in scraped.items() if name == "refnet_worker_lag_events"]
        # The lag is read on the heartbeat: every owned partition reported and at zero.
        if len(lags) == world.settings.topic_partitions and not any(lags):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"the worker's lag never showed all partitions at 0: {scraped}")
    assert value(scraped, "refnet_worker_events_total", outcome="applied") == sent
    assert value(scraped, "refnet_worker_dead_letters_total", reason="undecodable") == 1
    assert value(scraped, "refnet_worker_events_total", outcome="dead_lettered") == 1
    assert value(scraped, "refnet_worker_partitions") == world.settings.topic_partitions
    assert value(scraped, "refnet_worker_batch_duration_seconds_count") == value(
        scraped, "refnet_worker_batches_total"
    )
    assert value(scraped, "refnet_worker_batches_total") >= 1
    # Its log, in JSON: every line an object; the dead letter's names the batch's offsets.
    logged = [
        json.loads(line)
        for line in (world.log_dir / "worker-0.log").read_text().splitlines()
        if line.strip()
    ]
    [parked] = {
        line["message"]: line for line in logged if "dead-lettering" in line["message"]
    }.values()
    assert parked["level"] == "warning" and ":" in parked["offsets"]


async def test_a_backlog_folded_in_bulk_shows_in_the_worker_s_metrics(world: World) -> None:
    # The bulk fold runs in a child process without a port: its chunks reach the
    # parent's metrics line by line, dead letters and batch durations included.
    port = free_port()
    update = {"worker_metrics_port": port, "catchup_min_lag": 100, "catchup_batch_size": 150}
    world.settings = world.settings.model_copy(update=update)
    sent = world.publish(history(200, "blk"))
    world.publish_raw(b"poison", b"{not json")
    world.start_worker()
    await world.wait()
    scraped = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    logged = (world.log_dir / "worker-0.log").read_text()
    assert "backlog folded" in logged, "the backlog was not folded in bulk"
    assert value(scraped, "refnet_worker_events_total", outcome="applied") == sent
    assert value(scraped, "refnet_worker_dead_letters_total", reason="undecodable") == 1
    chunks = value(scraped, "refnet_worker_batch_duration_seconds_count")
    assert chunks == value(scraped, "refnet_worker_batches_total") >= 2


async def test_the_api_counts_requests_ingestion_and_refusals(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    awo = await token(app)
    before = samples((await client.get("/metrics")).text)
    once = body(enrolled(new_pid("m")))
    accepted = await client.post(
        "/v1/events", json=once, headers=auth(awo) | {"X-Request-ID": "req-42"}
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["x-request-id"] == "req-42"
    again = await client.post("/v1/events", json=once, headers=auth(awo))
    assert again.json()["duplicates"] == 1
    invalid = {**body(enrolled(new_pid("m")))[0], "occurred_at": "not a date"}
    refused = await client.post("/v1/events", json=[invalid], headers=auth(awo))
    assert refused.status_code == 422
    # A request id that could carry anything into a log line is replaced by a fresh one.
    odd = await client.get("/v1/health", headers=auth(awo) | {"X-Request-ID": "a b\tc"})
    assert odd.headers["x-request-id"] != "a b\tc" and len(odd.headers["x-request-id"]) == 32
    after = samples((await client.get("/metrics")).text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("refnet_api_ingested_events_total", status="accepted") == 1
    assert moved("refnet_api_ingested_events_total", status="duplicate") == 1
    assert moved("refnet_api_refusals_total", reason="events_invalid") == 1
    route = {"route": "/v1/events", "method": "POST"}
    assert moved("refnet_api_request_duration_seconds_count", **route, status="202") == 2
    assert moved("refnet_api_request_duration_seconds_count", **route, status="422") == 1
    # Labelled by the template, never the path a caller typed.
    await client.get("/no/such/path/123")
    last = samples((await client.get("/metrics")).text)
    routes = {dict(labels).get("route") for (_, labels) in last}
    assert "unmatched" in routes and "/no/such/path/123" not in routes
