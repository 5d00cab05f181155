"""A partner publishing straight to Kafka reports its unused numbers over the API.

The partner's client holds no registry access: its `Publisher` gets an
`HttpUnusedLedger` pointed at a real `refnet serve`. A publish the broker never
confirms, and a reservation a crashed process left open, must reach the registry
through `POST /v1/sequences/unused`, and `refnet audit verify` must call those
numbers unused, not missing, and exit 0.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from fastapi import FastAPI

from refnet.events.errors import PublishFailed
from refnet.events.http_ledger import HttpUnusedLedger
from refnet.events.publisher import Publisher, producer_config
from refnet.events.unused_numbers import ABANDONED_BY_CLIENT
from refnet.services.api.app import create_app
from refnet.services.registry.tokens import issue_token
from tests.integration.test_unused_sequences import verify, verify_json
from tests.integration.world import World, enrolled, new_pid, served_api

pytestmark = pytest.mark.integration

PARTNER = "bobeq"


async def token(world: World, role: str, partner: str | None = None) -> str:
    async with world.connection() as conn:
        issued = await issue_token(conn, role, partner)
    return issued.token


async def unused_rows(world: World) -> list[tuple[Any, ...]]:
    rows = await world.fetch(
        "SELECT publisher_id, first_sequence, last_sequence, reason FROM unused_sequences "
        "ORDER BY first_sequence"
    )
    return [tuple(r) for r in rows]


async def test_a_partner_s_client_reports_over_the_api_and_verify_accounts_it(
    running: World, tmp_path: Path
) -> None:
    partner_token = await token(running, "partner", PARTNER)
    signer_for = running.keys.signer
    with served_api(running, tmp_path / "api.log") as url:
        ledger = HttpUnusedLedger(url, partner_token, timeout=10)
        # A broker that never answers: numbers 0 and 1 are reserved and never used.
        dead = running.settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:9"})
        producer = Producer(producer_config(dead, **{"message.timeout.ms": 2000}))
        refusing = Publisher(dead, producer, signer_for=signer_for, ledger=ledger)
        with pytest.raises(PublishFailed):
            refusing.publish(
                [enrolled(new_pid("h"), partner=PARTNER) for _ in range(2)], timeout=10
            )
        # A process that reserved numbers 2..4 and died before publishing them.
        sequence = running.settings.keys_dir / f"{PARTNER}.sequence"
        reserve = (
            "import pathlib, refnet.events.signing as s; "
            f"s.FileSequence(pathlib.Path({str(sequence)!r})).reserve(3)"
        )
        subprocess.run([sys.executable, "-c", reserve], check=True, timeout=60)
        # The partner's next client reports what the dead one left, then publishes number 5.
        live = Publisher(running.settings, signer_for=signer_for, ledger=ledger)
        assert live.publish([enrolled(new_pid("h"), partner=PARTNER)]).delivered == 1

    rows = await unused_rows(running)
    assert [r[:3] for r in rows] == [(PARTNER, 0, 1), (PARTNER, 2, 4)]
    assert rows[0][3].startswith("publish not confirmed: ")
    assert rows[1][3] == ABANDONED_BY_CLIENT
    assert [e.sequence for e in running.read_log()] == [5]
    await running.wait()

    code, report = await verify_json(running)
    assert code == 0, report["discrepancies"]
    assert report["intact"] and report["discrepancies"] == []
    assert [(u["detail"]["ranges"], u["detail"]["reason"]) for u in report["unused"]] == [
        ([[0, 1]], rows[0][3]),
        ([[2, 4]], ABANDONED_BY_CLIENT),
    ]
    assert report["unused_numbers"] == 5
    shown = await verify(running)
    assert shown.returncode == 0, shown.stdout
    assert "INTACT" in shown.stdout


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(world.settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://refnet.test") as http:
            yield http


def report(publisher_id: str = PARTNER, **changes: Any) -> dict[str, Any]:
    body = {"publisher_id": publisher_id, "ranges": [{"first": 7, "last": 9}], "reason": "test"}
    return body | changes


async def test_the_route_records_only_a_partner_s_own_valid_report(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"Bearer {await token(world, 'partner', PARTNER)}"}
    coordinator = {"Authorization": f"Bearer {await token(world, 'coordinator')}"}
    path = "/v1/sequences/unused"

    other = await client.post(path, json=report("awo-en"), headers=headers)
    gateway = await client.post(
        path, json=report(world.settings.gateway_publisher_id), headers=headers
    )
    by_coordinator = await client.post(path, json=report(), headers=coordinator)
    backwards = await client.post(
        path,
        json=report(ranges=[{"first": 0, "last": 3}, {"first": 9, "last": 8}]),
        headers=headers,
    )
    two_lines = await client.post(path, json=report(reason="a\nb"), headers=headers)
    assert await unused_rows(world) == []
    recorded = await client.post(
        path,
        json=report(ranges=[{"first": 7, "last": 9}, {"first": 8, "last": 12}]),
        headers=headers,
    )

    for refused in (other, gateway):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
        assert [f["field"] for f in refused.json()["error"]["fields"]] == ["publisher_id"]
    assert by_coordinator.status_code == 403, by_coordinator.text
    assert backwards.status_code == 422, backwards.text
    [problem] = backwards.json()["error"]["fields"]
    assert problem["field"] == "ranges.1.last" and "at least first (9)" in problem["reason"]
    assert two_lines.status_code == 422, two_lines.text
    assert [f["field"] for f in two_lines.json()["error"]["fields"]] == ["reason"]
    assert recorded.status_code == 201, recorded.text
    assert recorded.json() == {"publisher_id": PARTNER, "ranges": 2, "numbers": 6}
    assert await unused_rows(world) == [(PARTNER, 7, 9, "test"), (PARTNER, 8, 12, "test")]
