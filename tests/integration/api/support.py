"""Settings, tokens and read-model rows for the HTTP API tests, and the error shape."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from refnet.events.settings import Settings
from refnet.projections.store.counts import after_rewrite, before_rewrite
from tests.integration.world import world_kek

BASE = "http://refnet.test"
LABEL = f"api tests {uuid.uuid4().hex[:8]}"
"""Every token the tests issue carries this run's label, and is deleted at the end."""
TOKEN_SHAPE = re.compile(r"rn_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


RUN = uuid.uuid4().hex[:8]


def api_settings(**overrides: Any) -> Settings:
    """The stack's settings with a registry of this run's own and its KEK: the shared
    registry may have been set up by another checkout's stack with another KEK."""
    return Settings(
        registry_schema=f"api_tests_{RUN}_registry",
        kek=world_kek(f"api-tests-{RUN}"),
        **overrides,
    )


def rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tokens:
    partner_id: str
    coordinator: str
    auditor: str
    partner: str
    expired: str
    revoked: str


@dataclass
class ReadModel:
    """Rows written straight into the read model for one test, removed afterwards."""

    conn: asyncpg.Connection
    participants: list[str] = field(default_factory=list)

    async def participant(self, site: str, enrolled_at: datetime | None, **cols: Any) -> str:
        participant_id = rid("pp")
        self.participants.append(participant_id)
        await self._write(
            [participant_id],
            "INSERT INTO participants (participant_id, enrolled, first_enrolled_at, site,"
            " placed_at, placement_kind) VALUES ($1, $2, $3, $4, $5, $6)",
            participant_id,
            enrolled_at is not None,
            enrolled_at,
            site,
            cols.get("placed_at"),
            cols.get("placement_kind"),
        )
        return participant_id

    async def link(self, partner_id: str, participant_id: str, role: str, since: datetime) -> None:
        await self._write(
            [participant_id],
            "INSERT INTO partner_links (partner_id, participant_id, role, since)"
            " VALUES ($1, $2, $3, $4)",
            partner_id,
            participant_id,
            role,
            since,
        )

    async def referral(
        self, participant_id: str, sender: str, receiver: str, sent_at: datetime, state: str
    ) -> str:
        referral_id = rid("ref")
        answered = sent_at + timedelta(days=3) if state != "pending" else None
        await self._write(
            [participant_id],
            "INSERT INTO referrals (participant_id, referral_id, from_partner, to_partner,"
            " service, site, sent_at, state, answered_at)"
            " VALUES ($1, $2, $3, $4, 'counselling', 'schwelm', $5, $6, $7)",
            participant_id,
            referral_id,
            sender,
            receiver,
            sent_at,
            state,
            answered,
        )
        return referral_id

    async def remove(self) -> None:
        for table in ("partner_links", "referrals", "trainings", "participants"):
            await self._write(
                self.participants,
                f"DELETE FROM {table} WHERE participant_id = ANY($1::text[])",
                self.participants,
            )

    async def _write(self, ids: list[str], sql: str, *args: Any) -> None:
        """Write rows as the projection would: the kept counts move with them."""
        async with self.conn.transaction():
            counted = await before_rewrite(self.conn, ids)
            await self.conn.execute(sql, *args)
            await after_rewrite(self.conn, counted)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def fields_of(response: httpx.Response) -> set[str]:
    error = assert_error(response, 422, "invalid_request")
    return {f["field"] for f in error["fields"]}
