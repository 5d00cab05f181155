"""Tokens: stored as digests only, refused everywhere once revoked, never a dashboard login."""

from __future__ import annotations

import asyncio
import hashlib
import re

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from refnet.services.cli.tokens import tokens_app
from refnet.services.demo.network import DEMO_PARTNERS
from tests.integration.authorization.rules import api_endpoints, check_answer, endpoints, rule, send
from tests.integration.authorization.seeding import Caller, bearer, child_env
from tests.integration.world import World

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------- tokens


async def test_tokens_are_stored_only_as_digests(
    app: FastAPI, callers: list[Caller], authz_world: World
) -> None:
    tokens = [c.token for c in callers if c.token is not None]
    rows = await authz_world.fetch("SELECT token_id, row_to_json(t)::text FROM api_tokens t")
    stored: dict[str, str] = dict(rows)
    digests = dict(await authz_world.fetch("SELECT token_id, secret_sha256 FROM api_tokens"))

    assert len(tokens) == len(DEMO_PARTNERS) + 2 + 4
    for token in tokens:
        _, token_id, secret = token.split("_", 2)
        assert token_id in stored
        for text in stored.values():
            assert secret not in text and token not in text
            assert secret.encode().hex() not in text
        assert bytes(digests[token_id]) == hashlib.sha256(secret.encode()).digest()


async def test_a_token_revoked_with_the_cli_is_refused_everywhere(
    app: FastAPI, client: httpx.AsyncClient, authz_world: World
) -> None:
    cli = CliRunner()
    env = child_env(authz_world.settings)
    partner = DEMO_PARTNERS[1]
    issued = await asyncio.to_thread(
        cli.invoke, tokens_app, ["issue", "--role", "partner", "--partner", partner], env=env
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    token_id = token.split("_")[1]
    caller = Caller("cli", "partner", bearer(token), "partner", partner, token)
    table = api_endpoints(app)
    before = [(await send(client, e, caller, partner))[0].status_code for e in table]

    revoked = await asyncio.to_thread(cli.invoke, tokens_app, ["revoke", token_id], env=env)
    listed = await asyncio.to_thread(cli.invoke, tokens_app, ["list"], env=env | {"COLUMNS": "200"})
    after = {e.label: (await send(client, e, caller, partner))[0] for e in table}

    assert revoked.exit_code == 0, revoked.output
    assert re.search(rf"{token_id}\s.*revoked", listed.stdout), listed.stdout
    assert 200 in before and 202 in before
    for endpoint in table:
        answer = after[endpoint.label]
        if rule(endpoint) == "public":
            assert answer.status_code == 200
        else:
            assert answer.status_code == 401, (endpoint.label, answer.text)
            assert check_answer(endpoint, Caller("revoked", "revoked"), partner, answer) == []


async def test_no_dashboard_page_answers_a_bearer_token_or_an_anonymous_caller(
    app: FastAPI, client: httpx.AsyncClient, callers: list[Caller]
) -> None:
    # The dashboard reads its session cookie only: a bearer token, good or bad,
    # opens no page and posts nothing (both lead to the sign-in form, or a refusal).
    pages = [e for e in endpoints(app) if rule(e) == "dashboard session"]
    assert {e.label for e in pages} >= {"GET /network", "GET /partner/inbox", "GET /audit/timeline"}
    for endpoint in pages:
        path = endpoint.path.replace("{partner_id}", "awo-en")
        for caller in callers:
            answer = await client.request(endpoint.method, path, headers=caller.headers)
            where = (endpoint.label, caller.name, answer.text[:200])
            if endpoint.method == "GET" or answer.status_code == 303:
                assert answer.status_code == 303, where
                assert answer.headers["location"].startswith("/sign-in"), where
            else:
                assert answer.status_code in (401, 403), where
