"""`POST /v1/privacy/erasures`, `GET /v1/audit/reads` and the dashboard's read log.

Against the real broker and database: the app runs in process over the ASGI
transport with its real gateway, and a worker projects what it publishes.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from refnet.services.api.app import create_app
from refnet.services.cli.main import app as cli_app
from refnet.services.localstack.process import settings_env
from refnet.services.registry.tokens import issue_token
from tests.integration.api_client import CSRF
from tests.integration.world import World, enrolled, new_pid

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Served:
    world: World
    app: FastAPI
    tokens: dict[str, str]
    pids: tuple[str, str]

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://refnet.test")


@pytest.fixture
async def served(running: World) -> AsyncIterator[Served]:
    pids = (new_pid("pa"), new_pid("pb"))
    running.publish([enrolled(pid) for pid in pids])
    await running.wait()
    application = create_app(running.settings)
    async with application.router.lifespan_context(application):
        async with running.connection() as conn:
            tokens = {
                role: (await issue_token(conn, role, "awo-en" if role == "partner" else None)).token
                for role in ("coordinator", "auditor", "partner")
            }
        yield Served(running, application, tokens, pids)


def token_id(token: str) -> str:
    return token.split("_")[1]


async def test_only_the_coordinator_requests_erasure_and_asking_twice_records_once(
    served: Served,
) -> None:
    pid = served.pids[0]
    body = {"participant_id": pid, "reason": "Antrag nach Art. 17 DSGVO"}
    before = served.world.log_size()
    async with served.client() as http:
        for role in ("partner", "auditor"):
            refused = await http.post(
                "/v1/privacy/erasures", json=body, headers=served.bearer(role)
            )
            assert refused.status_code == 403, role
        assert (await http.post("/v1/privacy/erasures", json=body)).status_code == 401
        unknown = {"participant_id": "nobody-here", "reason": "Antrag"}
        missing = await http.post(
            "/v1/privacy/erasures", json=unknown, headers=served.bearer("coordinator")
        )
        assert missing.status_code == 404
        personal = {"participant_id": pid, "reason": "Anruf von 0171 2345678"}
        gated = await http.post(
            "/v1/privacy/erasures", json=personal, headers=served.bearer("coordinator")
        )
        assert gated.status_code == 422, gated.text
        assert served.world.log_size() == before

        first = await http.post(
            "/v1/privacy/erasures", json=body, headers=served.bearer("coordinator")
        )
        again = await http.post(
            "/v1/privacy/erasures", json=body, headers=served.bearer("coordinator")
        )
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["recorded"] is True and answer["restricted"] is False
    assert answer["programme"] == "Netzwerk Integration" and answer["retention_until"] is None
    assert answer["key_destroyed"]  # no contact was recorded: a tombstone key, recorded
    assert "no retention duty runs" in answer["next"]
    assert again.status_code == 202 and again.json()["recorded"] is False
    assert again.json()["event_id"] == answer["event_id"]
    assert served.world.log_size() == before + 2  # the request and the destruction, once
    await served.world.wait()
    rows = await served.world.fetch(
        "SELECT erasure_requested_at IS NOT NULL, key_destroyed_at IS NOT NULL "
        "FROM participants WHERE participant_id = $1",
        pid,
    )
    assert rows == [(True, True)]


async def test_auditors_list_the_reads_by_participant_reader_and_time(served: Served) -> None:
    first, second = served.pids
    auditor = served.bearer("auditor")
    async with served.client() as http:
        for pid in (first, second, first):
            path = f"/v1/audit/participants/{pid}/history"
            assert (await http.get(path, headers=auditor)).status_code == 200
    env = settings_env(served.world.settings)
    args = ["audit", "history", second, "--reason", "Prüfung Verwendungsnachweis", "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, args, env=env)
    assert result.exit_code == 0, result.output
    refused = await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["audit", "history", second], env=env
    )
    assert refused.exit_code != 0 and "--reason" in refused.output

    async with served.client() as http:
        for role in ("coordinator", "partner"):
            answer = await http.get("/v1/audit/reads", headers=served.bearer(role))
            assert answer.status_code == 403, role
        everything = (await http.get("/v1/audit/reads", headers=auditor)).json()["reads"]
        of_first = await http.get("/v1/audit/reads", params={"participant": first}, headers=auditor)
        by_auditor = await http.get(
            "/v1/audit/reads", params={"by": token_id(served.tokens["auditor"])}, headers=auditor
        )
        by_os = await http.get(
            "/v1/audit/reads", params={"by": f"os:{getpass.getuser()}"}, headers=auditor
        )
        start = everything[1]["read_at"]
        later = await http.get("/v1/audit/reads", params={"from": start}, headers=auditor)
        earlier = await http.get("/v1/audit/reads", params={"to": start}, headers=auditor)
        backwards = await http.get(
            "/v1/audit/reads", params={"from": "2025-02-01", "to": "2025-01-01"}, headers=auditor
        )
    assert [(r["participant_id"], r["role"]) for r in everything] == [
        (first, "auditor"),
        (second, "auditor"),
        (first, "auditor"),
        (second, "operator"),
    ]
    assert [r["participant_id"] for r in of_first.json()["reads"]] == [first, first]
    assert len(by_auditor.json()["reads"]) == 3
    (cli_read,) = by_os.json()["reads"]
    assert cli_read["what"] == "cli audit history; reason: Prüfung Verwendungsnachweis"
    assert [r["read_id"] for r in later.json()["reads"]] == [r["read_id"] for r in everything[1:]]
    assert [r["read_id"] for r in earlier.json()["reads"]] == [everything[0]["read_id"]]
    assert backwards.status_code == 422
    assert backwards.json()["error"]["fields"][0]["field"] == "to"


@asynccontextmanager
async def signed_in(served: Served, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with served.client() as http:
        form = await http.get("/sign-in")
        csrf = CSRF.search(form.text)
        assert csrf is not None
        data = {"token": served.tokens[role], "csrf": csrf[1]}
        answer = await http.post("/sign-in", data=data)
        assert answer.status_code == 303, answer.text
        yield http


async def test_the_dashboard_shows_the_read_log_to_auditors_only(served: Served) -> None:
    pid = served.pids[1]
    async with served.client() as http:
        path = f"/v1/audit/participants/{pid}/history"
        assert (await http.get(path, headers=served.bearer("auditor"))).status_code == 200
    async with signed_in(served, "auditor") as auditor:
        outcomes = await auditor.get("/audit/outcomes")
        assert 'href="/audit/reads"' in outcomes.text and "Einsichtnahmen" in outcomes.text
        page = await auditor.get("/audit/reads", params={"participant": pid})
        assert page.status_code == 200
        assert pid in page.text and "audit history" in page.text
        assert 'aria-current="page"' in page.text
        none = await auditor.get("/audit/reads", params={"participant": served.pids[0]})
        assert "Keine erfasste Einsicht" in none.text
        bad = await auditor.get("/audit/reads", params={"from": "gestern"})
        assert bad.status_code == 400
    async with signed_in(served, "coordinator") as coordinator:
        assert (await coordinator.get("/audit/reads")).status_code == 403
