"""The API of a world served in-process, with a token for each kind of reader."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.api.deps import pooled
from refnet.services.registry.tokens import issue_token

BASE = "http://refnet.test"
PARTNERS = ("awo-en", "bobeq", "caritas-witten", "jobcenter-en")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
"""The hidden CSRF field of a dashboard form, and its token."""


@dataclass
class Api:
    http: httpx.AsyncClient
    tokens: dict[str, str]

    async def get(self, path: str, who: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.http.get(path, headers=headers)

    async def ok(self, path: str, who: str = "coordinator") -> Any:
        response = await self.get(path, who)
        assert response.status_code == 200, response.text
        return response.json()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Api]:
    """The API on `settings`, with a token for each kind of reader."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with pooled(app.state.pool) as conn:
            tokens = {
                "coordinator": (await issue_token(conn, "coordinator")).token,
                "auditor": (await issue_token(conn, "auditor")).token,
                **{p: (await issue_token(conn, "partner", p)).token for p in PARTNERS},
            }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield Api(http, tokens)


async def coordinator_get(
    settings: Settings, path: str, params: dict[str, str] | None = None, label: str = "test"
) -> httpx.Response:
    """One GET of `path` by a coordinator with a fresh token, from the API on `settings`."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.pool.acquire() as conn:
            token = (await issue_token(conn, "coordinator", label=label)).token
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://refnet") as http:
            return await http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
