"""Who may read and publish what: every endpoint of the app against every kind of caller."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.demo.network import DEMO_PARTNERS
from tests.integration.authorization.rules import (
    Endpoint,
    Matrix,
    api_endpoints,
    check_answer,
    endpoints,
    expected_status,
    rule,
    send,
)
from tests.integration.authorization.seeding import UNUSED_REASON, Caller
from tests.integration.world import World, show_in_terminal

pytestmark = pytest.mark.integration


def test_every_route_falls_under_an_access_rule() -> None:
    app = create_app(Settings())
    table = endpoints(app)
    labels = {e.label for e in table}

    assert [e.label for e in table if rule(e) is None] == []
    # The views this test seeds rows for are all there (a renamed one would go unchecked).
    assert labels >= {
        "GET /v1/network/outcomes",
        "GET /v1/health",
        "POST /v1/events",
        "POST /v1/sequences/unused",
        "GET /v1/partners/{partner_id}/caseload",
        "GET /v1/partners/{partner_id}/referrals?direction=inbox",
        "GET /v1/partners/{partner_id}/referrals?direction=outbox",
        "GET /v1/partners/{partner_id}/inbox",
        "GET /v1/partners/{partner_id}/outbox",
        "GET /v1/partners/{partner_id}/rejections",
        "GET /v1/audit/outcomes",
        "GET /v1/audit/participants/{participant_id}/history",
    }


async def test_every_endpoint_answers_every_caller_as_the_rules_say(
    app: FastAPI,
    client: httpx.AsyncClient,
    callers: list[Caller],
    authz_world: World,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    matrix = Matrix()
    table = api_endpoints(app)
    published: dict[str, bool] = {}  # event_id posted -> whether the rules let it through

    async def probe(endpoint: Endpoint, caller: Caller, partner: str | None) -> None:
        want = expected_status(endpoint, caller, partner)
        answer, event_id = await send(client, endpoint, caller, partner)
        matrix.record(endpoint, caller, partner, answer.status_code)
        problems = check_answer(endpoint, caller, partner, answer)
        if answer.status_code != want:
            problems.insert(0, f"{answer.status_code}, expected {want}: {answer.text[:200]}")
        if event_id is not None:
            published[event_id] = want == 202
        where = f"{endpoint.label} as {caller.name} for {partner}"
        matrix.wrong += [f"{where}: {problem}" for problem in problems]

    async def written() -> tuple[int, list[str]]:
        """The log's size, and the publishers of the unused numbers the matrix reported."""
        reported = await authz_world.fetch(
            "SELECT publisher_id FROM unused_sequences WHERE reason = $1", UNUSED_REASON
        )
        return await asyncio.to_thread(authz_world.log_size), sorted(r[0] for r in reported)

    for endpoint in table:
        scoped = endpoint.partner_scoped or endpoint.method == "POST"
        partners: list[str | None] = list(DEMO_PARTNERS) if scoped else [None]
        cases = [(caller, partner) for caller in callers for partner in partners]
        allowed = [(c, p) for c, p in cases if expected_status(endpoint, c, p) < 300]
        if endpoint.method == "POST":
            size, reported = await written()
        for caller, partner in cases:
            if (caller, partner) not in allowed:
                await probe(endpoint, caller, partner)
        if endpoint.method == "POST":
            # Every refusal came first: neither the log nor the registry may have grown.
            assert await written() == (size, reported)
        for caller, partner in allowed:
            await probe(endpoint, caller, partner)
        if endpoint.label == "POST /v1/events":
            assert await written() == (size + len(allowed), reported)
        elif endpoint.label == "POST /v1/privacy/erasures":
            # Each erasure request and its key's destruction (no retention duty runs).
            assert await written() == (size + 2 * len(allowed), reported)
        elif endpoint.method == "POST":
            # Each partner's own report, once: nothing reaches the log.
            assert await written() == (size, sorted(reported + [p for _, p in allowed if p]))

    report = matrix.markdown([e.label for e in table])
    (tmp_path / "authorization-matrix.md").write_text(report + "\n")
    title = f"authorization matrix ({tmp_path / 'authorization-matrix.md'}):"
    show_in_terminal(request, [title, *report.splitlines()])
    assert matrix.wrong == [], "\n".join(matrix.wrong[:40])
    # The gateway remembers exactly the events it published: one per partner, its own.
    recorded = await authz_world.fetch(
        "SELECT event_id::text FROM ingested_events WHERE event_id = ANY($1::uuid[])",
        list(published),
    )
    assert {r[0] for r in recorded} == {e for e, ok in published.items() if ok}
    assert sum(published.values()) == len(DEMO_PARTNERS)
    assert len(published) == len(DEMO_PARTNERS) * len(callers)
