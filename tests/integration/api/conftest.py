"""The app, client, connection, tokens and read-model rows the HTTP API tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from refnet.services.api.app import create_app
from refnet.services.api.deps import pooled
from refnet.services.registry.tokens import issue_token, revoke_token
from tests.integration.api.support import BASE, LABEL, RUN, ReadModel, Tokens, api_settings, rid

# Runs against the PostgreSQL the settings name (REFNET_DATABASE_URL), through
# `httpx.AsyncClient` over the ASGI transport. Rows go straight into the read model
# with random partner, site and participant ids, and are deleted after each test;
# network totals are asserted as deltas, since other rows may exist.


@pytest.fixture(scope="package")
async def app() -> AsyncIterator[FastAPI]:
    # ASGITransport does not run the lifespan; enter it here, as uvicorn would.
    application = create_app(api_settings())
    async with application.router.lifespan_context(application):
        yield application
        async with pooled(application.state.pool) as conn:
            await conn.execute("DELETE FROM api_tokens WHERE label = $1", LABEL)
            await conn.execute(f'DROP SCHEMA IF EXISTS "api_tests_{RUN}_registry" CASCADE')


@pytest.fixture(scope="package")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@pytest.fixture
async def conn(app: FastAPI) -> AsyncIterator[asyncpg.Connection]:
    async with pooled(app.state.pool) as connection:
        yield connection


@pytest.fixture(scope="package")
async def tokens(app: FastAPI) -> Tokens:
    partner_id = rid("partner")
    async with pooled(app.state.pool) as conn:
        coordinator = await issue_token(conn, "coordinator", label=LABEL)
        auditor = await issue_token(conn, "auditor", label=LABEL)
        partner = await issue_token(conn, "partner", partner_id, label=LABEL)
        expired = await issue_token(conn, "partner", partner_id, LABEL, timedelta(days=1))
        await conn.execute(
            "UPDATE api_tokens SET created_at = now() - interval '2 days',"
            " expires_at = now() - interval '1 day' WHERE token_id = $1",
            expired.token_id,
        )
        revoked = await issue_token(conn, "coordinator", label=LABEL)
        assert await revoke_token(conn, revoked.token_id)
    return Tokens(
        partner_id,
        coordinator.token,
        auditor.token,
        partner.token,
        expired.token,
        revoked.token,
    )


@pytest.fixture
async def rows(conn: asyncpg.Connection) -> AsyncIterator[ReadModel]:
    model = ReadModel(conn)
    yield model
    await model.remove()
